"""The default digits search on the sklearn backend: every trial is a 3-fold cross-validation.

Same data, model, defaults and stages as digits_cnn.py (4 + 2 + 3 + 3 = 12 trials, 9 trained),
but each stage is one scikit-learn GridSearchCV over a scikeras KerasClassifier: every config is
trained on 3 stratified folds of train+validation and ranked by its mean fold accuracy. About three
times the training of the holdout search, for a score that does not hang on one validation split.
`python -m gridsearch run search_spaces/digits_cnn_cv.py --jobs 2` fits in 2 processes.
"""
from gridsearch import SearchSpace, Stage

space = SearchSpace(
    name="digits_cnn_cv",
    data="digits",
    model="simple_cnn",
    defaults={"learning_rate": 1e-3, "batch_norm": False, "l2": 0.0, "noise": 0.0},
    stages=[
        Stage("learning_rate", [1e-1, 1e-2, 1e-3, 1e-4]),
        Stage("batch_norm", [False, True]),
        Stage("l2", [0.0, 1e-4, 1e-3]),
        Stage("noise", [0.0, 0.1, 0.3]),
    ],
    objective="val_accuracy",
    epochs=20,
    batch_size=32,
    backend="sklearn",
    cv_folds=3,  # stratified, shuffled with the seed; on train+validation (the test split stays out)
    n_jobs=1,  # or --jobs N on the command line
    seed=0,
)
