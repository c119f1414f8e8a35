"""A search over your own images: one sub-folder per class.

    my_images/
        cats/  0001.png 0002.jpg ...
        dogs/  ...

Point `data` at the folder (relative paths are read from this file's folder). The images are
read once with `keras.utils.image_dataset_from_directory` at `image_size` and `color_mode`,
and shared by every trial. The tests generate a small folder of PNGs and run this file on it.
"""
import os

from gridsearch import SearchSpace, Stage

space = SearchSpace(
    name="image_folder",
    data=os.environ.get("GRIDSEARCH_IMAGE_FOLDER", "my_images"),
    data_options={"image_size": (32, 32), "color_mode": "rgb"},
    defaults={"normalize": "scale", "augment_flip": "horizontal"},
    stages=[
        Stage("learning_rate", [1e-2, 1e-3]),
        Stage({"augment_rotation": [0.0, 0.1], "dropout": [0.0, 0.3]}),
    ],
    epochs=10,
    batch_size=16,
)
