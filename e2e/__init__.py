"""The end-to-end drivers, on top of every other package: the offline loop on the tiny twin
(``offline_loop``) and the GPU host's run against a real vLLM server (``gpu_e2e``)."""
