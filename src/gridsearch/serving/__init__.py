"""After the search: the top-k ensemble, calibration, predictions and the layers that make saved models self-contained."""
