"""course_lib: the companion package of the "ViT from Scratch" course.

- ``course_lib.device``: device, seeding, mixed precision, compile policy, run profiles
- ``course_lib.data``: datasets as tensors, subsets, on-device loader and batch augmentation
- ``course_lib.models``: the course's models, created by name with ``create_model``
- ``course_lib.train``: ``fit`` / ``evaluate``, losses, optimizer groups, checkpoints
- ``course_lib.measure``: parameters, FLOPs, forward and training speed, device peaks
- ``course_lib.analysis``: the measurements the later notebooks make inside trained models
- ``course_lib.plots``: the figures the notebooks show, one module per topic
- ``course_lib.notebook``: what every notebook does first and last
- ``course_lib.run`` / ``course_lib.bench`` / ``course_lib.gpu_check``: run the notebook series;
  benchmarks; the one-command GPU measurement
"""

__version__ = "0.1.0"
