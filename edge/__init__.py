"""segread's device side: capture -> dedup -> detect -> read -> session log -> review queue.

Nothing here imports torch or ultralytics; an edge box installs numpy, OpenCV, ONNX Runtime and
sqlite-utils only.
"""

__version__ = "0.1.0"
