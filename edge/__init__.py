"""fer-edge's light core: what runs on the Pi, and what training and conversion must agree with.

Importing this package never imports TensorFlow, picamera2, GPIO libraries or a TFLite runtime;
each backend imports its library when it is chosen.
"""

__version__ = "0.1.0"
