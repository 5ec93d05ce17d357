"""The dataset's quality: agreement between the model and human coders."""
