"""The RabbitMQ this machine runs (127.0.0.1:5672, guest/guest), for the tests of
the second broker; they skip, saying so, where none answers."""

import socket

URL = "amqp://guest:guest@127.0.0.1:5672//"


def rabbitmq_answers() -> bool:
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex(("127.0.0.1", 5672)) == 0
