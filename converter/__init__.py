"""fer-convert and fer-bench: a fer-train run to a verified float or int8 TFLite model with its metadata sidecar.

The heavy side (TensorFlow); the edge package reads what this writes without importing any of it.
"""
