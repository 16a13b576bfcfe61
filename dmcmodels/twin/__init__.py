"""The exact differentiable twin of the numba console channel (docs/differentiable-console.md).

    from dmcmodels.twin import ChannelTwin
    twin = ChannelTwin(44100, ir_bank, pan_law="linear", order=ORDERS[0])
    v = twin.vector([params_1, params_2])        # float64 (tracks, 25), CHANNEL_SPACE order
    stereo = twin(x, v)                          # x (tracks, n) -> (tracks, 2, n), differentiable
"""

from dmcmodels.twin.channel import ChannelTwin, apply_gain, apply_pan, pan_gains
from dmcmodels.twin.space import SpaceTensors, denormalize, linear_to_log, log_to_linear, params_to_vector, vector_to_params

__all__ = ["ChannelTwin", "SpaceTensors", "denormalize", "params_to_vector", "vector_to_params", "log_to_linear",
           "linear_to_log", "apply_gain", "apply_pan", "pan_gains"]
