"""A real SMTP server on loopback (aiosmtpd) that keeps what workers send it,
and the waiting-list links read out of those e-mails, as their reader would."""

import email
import logging
import re
from email.policy import default as default_policy

from aiosmtpd.controller import Controller

from devtools.embedded_redis import free_port

logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd's per-connection chatter

ENTRY_LINK = re.compile(r"https?://\S+/waiting-list/([0-9a-f-]{36})/")


class Inbox:
    def __init__(self) -> None:
        self.messages: list = []

    async def handle_DATA(self, server, session, envelope) -> str:
        self.messages.append(email.message_from_bytes(envelope.content, policy=default_policy))
        return "250 Message accepted for delivery"


class Mailbox:
    """An SMTP server and its inbox: `url` is the EMAIL_URL that sends to it."""

    def __init__(self) -> None:
        self.inbox = Inbox()
        self.controller = Controller(self.inbox, hostname="127.0.0.1", port=free_port())

    @property
    def messages(self) -> list:
        return self.inbox.messages

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.controller.port}"

    def start(self) -> "Mailbox":
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()


def entry_links(messages, address: str, subject: str = "") -> list[str]:
    """The waiting-list links e-mailed to `address` (in subjects with `subject`)."""
    links = []
    for message in messages:
        if message["To"] == address and subject in message["Subject"]:
            body = message.get_body(preferencelist=("plain",)).get_content()
            links += [match.group(0) for match in ENTRY_LINK.finditer(body)]
    return links


def wait_for_entry_link(messages, address: str, subject: str = "", timeout: float = 30.0) -> str:
    """The latest such link, once a worker has e-mailed one."""
    from tests.waiting import wait_for  # after Django is set up (it reads models)

    return wait_for(lambda: entry_links(messages, address, subject), timeout=timeout)[-1]


def entry_id_of(link: str) -> str:
    return ENTRY_LINK.search(link).group(1)
