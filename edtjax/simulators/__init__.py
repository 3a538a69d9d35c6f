"""Physics simulators and data sets: thermodiffusion solver, analytic test functions,
dataset builders."""

__all__: list[str] = []
