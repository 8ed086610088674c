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


def typed_messages():
    import pipecat.processors.frameworks.rtvi.models as RTVI

    text = lambda t: RTVI.TextMessageData(text=t)  # noqa: E731
    return [
        RTVI.BotInterruptedMessage(),
        RTVI.UserMuteStartedMessage(),
        RTVI.UserMuteStoppedMessage(),
        RTVI.VADUserStartedSpeakingMessage(),
        RTVI.VADUserStoppedSpeakingMessage(),
        RTVI.UserAudioLevelMessage(data=RTVI.AudioLevelMessageData(value=0.5)),
        RTVI.BotAudioLevelMessage(data=RTVI.AudioLevelMessageData(value=0.25)),
        RTVI.BotLLMStartedMessage(),
        RTVI.BotLLMTextMessage(data=text("Hello")),
        RTVI.BotLLMStoppedMessage(),
        RTVI.BotTTSStartedMessage(),
        RTVI.BotTTSTextMessage(data=text("Hello")),
        RTVI.BotTTSStoppedMessage(),
        RTVI.LLMFunctionCallStartMessage(data=RTVI.LLMFunctionCallStartMessageData(function_name="lookup")),
        RTVI.LLMFunctionCallStoppedMessage(
            data=RTVI.LLMFunctionCallStoppedMessageData(
                function_name="lookup", tool_call_id="call-1", cancelled=False, result={"ok": True}
            )
        ),
        RTVI.SystemLogMessage(data=text("a line of the server's log")),
    ]


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
        elif message.type == "typed":
            # Every RTVI 2.2 server message the SDK gives a typed event, as Pipecat's own models
            # serialise them, then the answer.
            sent = typed_messages()
            for m in sent:
                await rtvi.push_transport_message(m)
            await rtvi.send_server_response(message, {"sent": [m.type for m in sent]})
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
