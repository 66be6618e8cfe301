"""Names shared by Transform, the Trainer and the serving signatures."""

LABEL_KEY = "label_xf"            # class id (classification) or scaled target
LABEL_MEAN_KEY = "label_mean_xf"  # regression: target = label_xf * std + mean
LABEL_STD_KEY = "label_std_xf"
LABEL_VOCABULARY = "label_vocabulary"


def transformed_name(feature):
    """The Transform output holding the z-scored ``feature``."""
    return f"{feature}_xf"
