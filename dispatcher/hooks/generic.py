"""`POST /api/v1/hooks/leads`: a lead in griddispatch's own JSON, as published on NATS.

The body is a lead message (see `griddispatch.messages.LeadMessage`) whose
`message_id` may be left out: it then derives from the body, so the same
payload sent twice is one lead.
"""

from aiohttp import web

from dispatcher.hooks.common import (
    accepted,
    check_callback,
    content_hash,
    publish_leads,
    receive,
    require_object,
    validated,
)
from dispatcher.hooks.context import HookContext
from griddispatch.messages import LeadMessage
from storage.leads.service import dedup_key_of

PATH = "/api/v1/hooks/leads"


async def receive_lead(request: web.Request, context: HookContext) -> web.Response:
    """Validate a generic lead and publish it on `gd.lead.<source>`."""
    hook_request = await receive(request, context)
    data = dict(require_object(hook_request.data))
    data.setdefault("message_id", f"lead-{content_hash(data)}")
    data["callback_token"] = hook_request.caller.token.name if data.get("callback_url") else None
    message = validated(LeadMessage, data)
    check_callback(context, hook_request.caller, message.callback_url)

    await publish_leads(context, hook_request.caller, [message])
    return accepted(
        {
            "status": "accepted",
            "message_id": message.message_id,
            "source": message.source,
            "dedup_key": dedup_key_of(message),
        }
    )
