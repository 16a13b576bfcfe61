"""The dmc mixing console: numba/numpy DSP channel strip, declared parameter spaces, mix files.

See ``notes/README-console.md`` and DESIGN §2. Public API::

    from dmcdata.console import (CHANNEL_SPACE, ORDERS, order_one_hot, sample_channel_params,
                                 ChannelStrip, IRBank, render_mix, ConsoleError)
"""

from dmcdata.console.channel import ChannelStrip, check_audio, render_mix
from dmcdata.console.errors import ConsoleError
from dmcdata.console.ir import IRBank
from dmcdata.console.pan import PAN_LAWS, pan_gains
from dmcdata.console.params import (CHANNEL_SPACE, ORDERS, PROCESSORS, Param, ParameterSpace, channel_space,
                                    order_one_hot, sample_channel_params)

__all__ = [
    "CHANNEL_SPACE", "ORDERS", "PROCESSORS", "PAN_LAWS", "Param", "ParameterSpace", "channel_space",
    "order_one_hot", "sample_channel_params", "ChannelStrip", "IRBank", "render_mix", "ConsoleError",
    "check_audio", "pan_gains",
]
