"""The demo's broker (crm/core/broker.py): a consumer polling while a producer writes never
reads a half-written message. Large messages widen the window kombu's own filesystem
channel leaves open (it creates the file under its final name before writing it)."""

import threading

from kombu import Connection, Exchange, Queue

import crm.celery  # noqa: F401 - points the filesystem alias at crm.core.broker

MESSAGES = 300
QUEUE = Queue("race", Exchange("race", type="direct"), routing_key="race")
BODY = "x" * 400_000


def connection(folder) -> Connection:
    return Connection(
        "filesystem://",
        transport_options={
            "data_folder_in": str(folder),
            "data_folder_out": str(folder),
            "control_folder": str(folder),
            "polling_interval": 0,
        },
    )


def test_a_consumer_racing_a_producer_gets_every_message_whole(tmp_path):
    # given a producer putting large messages and a consumer taking them as they come
    received: list[tuple[int, int]] = []
    errors: list[BaseException] = []

    def produce() -> None:
        with connection(tmp_path) as conn:
            producer = conn.Producer()
            for n in range(MESSAGES):
                producer.publish(
                    {"n": n, "body": BODY}, exchange=QUEUE.exchange, routing_key="race"
                )

    def consume() -> None:
        try:
            with connection(tmp_path) as conn:
                queue = conn.SimpleQueue(QUEUE)
                while len(received) < MESSAGES:
                    message = queue.get(timeout=30)
                    received.append((message.payload["n"], len(message.payload["body"])))
                    message.ack()
                queue.close()
        except BaseException as error:
            errors.append(error)

    with connection(tmp_path) as conn:
        QUEUE.bind(conn.default_channel).declare()
    consumer = threading.Thread(target=consume)
    consumer.start()
    produce()
    consumer.join(timeout=120)

    # then every message arrived once, whole, in order
    assert errors == [], (
        sorted(set(range(MESSAGES)) - {n for n, _ in received}),
        sorted(p.name[:60] for p in tmp_path.iterdir()),
    )
    assert received == [(n, len(BODY)) for n in range(MESSAGES)]
