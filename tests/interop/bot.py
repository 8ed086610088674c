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


def install_ui_test(task):
    """The UI agent (RTVI 2.2) from the bot's side, with Pipecat's own models and no LLM.

    On the client request "ui-test" {name, effect, outside} the bot asks the page for a snapshot
    (a `server-message` {"type": "ui-snapshot-request"}), finds the button named `name` in it, sends `highlight` and `click` on its ref,
    waits for a newer snapshot that shows a node named `effect` (the click's effect), then tries
    two commands the page must refuse: `set_input_value` on the password field and a `click` on
    the element `outside` (by id, outside the agent's root). It answers with what it saw.
    """
    import asyncio

    import pipecat.processors.frameworks.rtvi.models as RTVI

    waiting = []  # (predicate, future) over the UI messages that arrive

    def names(node):
        yield node
        for child in node.children or []:
            yield from names(child)

    async def next_message(predicate, timeout=8):
        fut = asyncio.get_running_loop().create_future()
        waiting.append((predicate, fut))
        return await asyncio.wait_for(fut, timeout)

    @task.rtvi.event_handler("on_ui_message")
    async def on_ui_message(rtvi, message):
        for entry in list(waiting):
            predicate, fut = entry
            if not fut.done() and predicate(message):
                waiting.remove(entry)
                fut.set_result(message)

    async def command(rtvi, name, payload):
        await rtvi.push_transport_message(RTVI.UICommandMessage(data=RTVI.UICommandData(command=name, payload=payload)))

    def error_event(reason):
        return lambda m: isinstance(m, RTVI.UIEventMessage) and m.data.event == "ui-command-error" and (m.data.payload or {}).get("reason") == reason

    @task.rtvi.event_handler("on_client_message")
    async def on_ui_test(rtvi, message):
        if message.type != "ui-test":
            return
        want = message.data or {}
        try:
            # Asks for a fresh snapshot (a server-message of agent-rtc's convention: Pipecat's
            # protocol has no request; the page also sends one on every change).
            pending = asyncio.ensure_future(next_message(lambda m: isinstance(m, RTVI.UISnapshotMessage)))
            await rtvi.send_server_message({"type": "ui-snapshot-request"})
            tree = (await pending).data.tree
            button = next((n for n in names(tree.root) if n.role == "button" and n.name == want["name"] and n.ref), None)
            if button is None:
                return await rtvi.send_error_response(message, f"no button named {want['name']!r}")
            await command(rtvi, "highlight", RTVI.Highlight(ref=button.ref, duration_ms=800))
            await command(rtvi, "click", RTVI.Click(ref=button.ref))
            after = await next_message(
                lambda m: isinstance(m, RTVI.UISnapshotMessage)
                and m.data.tree.captured_at >= tree.captured_at
                and any(n.name == want["effect"] for n in names(m.data.tree.root))
            )
            password = next((n for n in names(after.data.tree.root) if "password" in (n.state or [])), None)
            refused = []
            if password is not None:
                pending = asyncio.ensure_future(next_message(error_event("password")))
                await command(rtvi, "set_input_value", RTVI.SetInputValue(ref=password.ref, value="hunter2"))
                refused.append((await pending).data.payload)
            pending = asyncio.ensure_future(next_message(error_event("outside-root")))
            await command(rtvi, "click", RTVI.Click(target_id=want["outside"]))
            refused.append((await pending).data.payload)
            await rtvi.send_server_response(
                message,
                {"clicked": button.ref, "effect_seen_at": after.data.tree.captured_at, "refused": refused},
            )
        except Exception as e:  # a timeout above: say which step
            await rtvi.send_error_response(message, f"ui-test failed: {type(e).__name__} {e}")


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
        elif message.type != "ui-test":  # answered by install_ui_test's handler
            await rtvi.send_error_response(message, f"unknown request {message.type}")

    install_ui_test(task)

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
