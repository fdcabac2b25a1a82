"""The model zoo: the papers' networks, built on keras_bnn.

```python
import zoo

model = zoo.get_model("bnn_small", input_shape=(28, 28, 1), num_classes=10)
```
"""

from zoo import baselines

MODELS = {
    "bnn_small": baselines.bnn_small,
}


def get_model(name, **kwargs):
    """Builds zoo model `name` with the builder's keyword arguments.

    # Raises
        ValueError: for an unknown name, listing the known ones.
    """
    if name not in MODELS:
        raise ValueError(f"Unknown zoo model {name!r}; known models: {', '.join(sorted(MODELS))}.")
    return MODELS[name](**kwargs)


__all__ = ["MODELS", "get_model"]
