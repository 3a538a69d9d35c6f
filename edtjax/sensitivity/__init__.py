"""Global sensitivity analysis over pytrees: Sobol designs and indices, network-parameter
sensitivity, HSIC and derivative-based measures."""

__all__: list[str] = []
