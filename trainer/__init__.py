"""Turn labeled frames into a better ONNX digit detector, and refuse to ship a worse one."""
