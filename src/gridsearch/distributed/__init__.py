"""Trials on several processes or machines: Keras Tuner's chief and workers, and the sklearn backend over Dask."""
