"""What a policy is and may do, for each layer of the serving stack: the API (``router.py``: ``BaseGlobalScheduler``,
vidur's name; ``batch.py``; ``autoscaler.py``), the built-ins (``builtin/``), how a policy file is loaded and checked
(``loader.py``, whose ``LAYERS`` is the registry per layer; ``guard.py``) and the contract its calls are held to
(``contract.py``). The API is documented for people and the model alike in ``*_api.md``; policies import it from
``glia.simulator``."""
