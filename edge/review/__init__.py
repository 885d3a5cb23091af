"""The review queue: frames the reader was unsure of, with pre-labels, answered by a person.

select   which read frames enter the queue, and why (limits, near-duplicates)
suggest  what a held time display must have shown, from its accepted neighbours (a doubted
         reading brings its own, from the sequence)
queue    the queue in the session database, fed by the read loop (`ReviewQueue.consider`)
items    reading and deciding queue items (accept, fix, skip), never deleting pre-labels
export   YOLO folder, Label Studio tasks, CVAT Ultralytics YOLO zip
importer corrected labels back from a YOLO folder, a CVAT zip or a Label Studio export
         (edge.classnames: the digit each class id of a YOLO source means; label_studio: a task's boxes)
"""
