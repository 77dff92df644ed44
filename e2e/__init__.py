"""The end-to-end drivers, on top of every other package: the offline loop on the tiny twin
(``offline_loop``), the GPU host's loop against a real vLLM server (``gpu_e2e``) and the known-answer
test on real weights (``real_model_e2e``)."""
