"""avanon: anonymize behavioural research recordings while keeping what researchers analyse."""

import os as _os

__version__ = "0.1.0"

# MediaPipe and TensorFlow Lite log every graph start to stderr; keep the console for our messages.
_os.environ.setdefault("GLOG_minloglevel", "2")
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# ONNX Runtime writes a device id and a telemetry database under ~/.cache/Microsoft at import unless
# this is set before it loads (onnxruntime.disable_telemetry_events() after import is too late).
_os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
