"""The echo bot the interop tests run under the real Pipecat development runner.

Started as `python tests/interop/bot.py --host 127.0.0.1 --port N` (the runner's own `main()`
serves every transport it has; the WebSocket tests add `--host localhost --ws-auth token`, as the
runner hands out `ws://` URLs only for the host `localhost`). Each bot prints one line when it starts and one when it ends, so
a test can count how many bots a call made: a recovery that works keeps the first bot.
"""

from pipecat.frames.frames import InputAudioRawFrame, OutputAudioRawFrame
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.runner import PipelineRunner
from pipecat.pipeline.task import PipelineTask
from pipecat.processors.frame_processor import FrameProcessor
from pipecat.transports.base_transport import TransportParams


class Echo(FrameProcessor):
    """Sends the caller's microphone back as the bot's audio."""

    async def process_frame(self, frame, direction):
        await super().process_frame(frame, direction)
        if isinstance(frame, InputAudioRawFrame):
            frame = OutputAudioRawFrame(
                audio=frame.audio,
                sample_rate=frame.sample_rate,
                num_channels=frame.num_channels,
            )
        await self.push_frame(frame, direction)


def transport_for(runner_args):
    params = TransportParams(audio_in_enabled=True, audio_out_enabled=True)
    connection = getattr(runner_args, "webrtc_connection", None)
    if connection is not None:
        from pipecat.transports.smallwebrtc.transport import SmallWebRTCTransport

        return SmallWebRTCTransport(webrtc_connection=connection, params=params)
    if getattr(runner_args, "transport_type", None) == "websocket":
        # Pipecat's plain WebSocket transport with protobuf frames, as a browser client uses it.
        from pipecat.serializers.protobuf import ProtobufFrameSerializer
        from pipecat.transports.websocket.fastapi import (
            FastAPIWebsocketParams,
            FastAPIWebsocketTransport,
        )

        return FastAPIWebsocketTransport(
            websocket=runner_args.websocket,
            params=FastAPIWebsocketParams(
                audio_in_enabled=True,
                audio_out_enabled=True,
                add_wav_header=False,
                serializer=ProtobufFrameSerializer(),
            ),
        )
    raise RuntimeError(f"this bot speaks SmallWebRTC and WebSocket, not {type(runner_args).__name__}")


async def bot(runner_args):
    session = getattr(runner_args, "session_id", None)
    print(f"agent-rtc-interop: bot started {session}", flush=True)
    transport = transport_for(runner_args)
    task = PipelineTask(Pipeline([transport.input(), Echo(), transport.output()]))

    @task.rtvi.event_handler("on_client_message")
    async def on_client_message(rtvi, message):
        # The tests' requests: "echo" sends a server-message, then answers with what it got.
        if message.type == "echo":
            await rtvi.send_server_message({"echo": message.data})
            await rtvi.send_server_response(message, message.data)
        else:
            await rtvi.send_error_response(message, f"unknown request {message.type}")

    @transport.event_handler("on_client_disconnected")
    async def on_client_disconnected(_transport, _client):
        await task.cancel()

    try:
        await PipelineRunner(handle_sigint=False).run(task)
    finally:
        print(f"agent-rtc-interop: bot ended {session}", flush=True)


if __name__ == "__main__":
    from pipecat.runner.run import main

    main()
