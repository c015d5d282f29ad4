"""fer-train: the CNN-BiLSTM (and its CNN / BiLSTM baselines) on FER2013."""
