#!/usr/bin/env python3
"""Regenerates the webhook fixtures: Meta's bodies (events/meta/*.json) and the API Gateway
HTTP API v2 events that carry them signed with the local app secret (events/webhook-*.json).

Bodies are serialised as Meta does: compact, non-ASCII as lowercase \\uXXXX (surrogate pairs for
emoji) and "/" escaped as "\\/". Run: python3 events/generate.py
"""
import base64, hashlib, hmac, json, os

HERE = os.path.dirname(os.path.abspath(__file__))
SECRET = b"local-app-secret"
WABA = "102290129340398"
META = {"display_phone_number": "15550783881", "phone_number_id": "106540352242922"}
TS = "1749416383"
GROUP = "Y2FwaV9ncm91cDoxNTU1MDc4Mzg4MToxMjAzNjM0MDQ2OTQyMzM4MjA="


def meta_json(obj):
    return json.dumps(obj, ensure_ascii=True, separators=(",", ":")).replace("/", "\\/")


def envelope(value, field="messages", time=None):
    entry = {"id": WABA, "changes": [{"value": value, "field": field}]}
    if time is not None:
        entry["time"] = time
    return {"object": "whatsapp_business_account", "entry": [entry]}


def message(kind, payload, frm="5511987654321", name="Jo\u00e3o Silva", extra=None, user_id=None):
    msg = {"from": frm, "id": f"wamid.HBgN{kind.upper()}AA==", "timestamp": TS, "type": kind}
    if payload is not None:
        msg[kind] = payload
    msg.update(extra or {})
    contact = {"profile": {"name": name}, "wa_id": frm}
    if user_id:
        contact["user_id"] = user_id
    value = {"messaging_product": "whatsapp", "metadata": META, "contacts": [contact], "messages": [msg]}
    return envelope(value)


def status(st, extra=None):
    s = {"id": "wamid.HBgNOUTBOUNDAA==", "status": st, "timestamp": TS, "recipient_id": "5511987654321"}
    s.update(extra or {})
    return envelope({"messaging_product": "whatsapp", "metadata": META, "statuses": [s]})


media = lambda **kw: dict({"id": "1037543291543636", "mime_type": "image/jpeg",
                           "sha256": "HgbLfGa3PIFUDBSE7dsFT8BVsJ0g8XnBd3RZGUjGtJg="}, **kw)

BODIES = {
    "text": message("text", {"body": "Ol\u00e1! Voc\u00ea tem em azul? \U0001F44B @loja https://ex.com/a"}),
    "text-reply": message("text", {"body": "Sim"}, extra={"context": {"from": "15550783881", "id": "wamid.PREVIOUS=="}}),
    "text-forwarded": message("text", {"body": "olha isso"}, extra={"context": {"forwarded": True}}),
    "text-ad-referral": message("text", {"body": "Quero saber mais"}, extra={"referral": {
        "source_url": "https://fb.me/2ZKhW", "source_id": "120214", "source_type": "ad", "body": "Promo",
        "headline": "Frete gr\u00e1tis", "media_type": "image", "image_url": "https://ex.com/i.jpg",
        "ctwa_clid": "ARAkLkA8rmlFeiCktEJQ", "welcome_message": {"text": "Oi!"}}}),
    "text-bsuid-only": envelope({"messaging_product": "whatsapp", "metadata": META,
        "contacts": [{"profile": {"name": "Ana"}, "user_id": "BR.13491208655302741918"}],
        "messages": [{"from_user_id": "BR.13491208655302741918", "id": "wamid.BSUID==", "timestamp": TS,
                      "type": "text", "text": {"body": "oi"}}]}),
    "image": message("image", media(caption="Foto do produto")),
    "video": message("video", media(mime_type="video/mp4")),
    "audio": message("audio", media(mime_type="audio/ogg; codecs=opus", voice=True)),
    "document": message("document", media(mime_type="application/pdf", filename="nota.pdf", caption="NF")),
    "sticker": message("sticker", media(mime_type="image/webp", animated=False)),
    "location": message("location", {"latitude": -23.5505, "longitude": -46.6333, "name": "Pra\u00e7a da S\u00e9", "address": "S\u00e3o Paulo"}),
    "contacts": message("contacts", [{"name": {"formatted_name": "Maria", "first_name": "Maria"},
                                      "phones": [{"phone": "+55 11 91234-5678", "wa_id": "5511912345678", "type": "CELL"}]}]),
    "interactive-button": message("interactive", {"type": "button_reply", "button_reply": {"id": "yes-1", "title": "Sim"}}),
    "interactive-list": message("interactive", {"type": "list_reply", "list_reply": {"id": "row-2", "title": "Entrega", "description": "Prazo"}}),
    # The customer taps score 4 of the bridge's rating list (request_rating crm-csat-1).
    "interactive-rating": message("interactive", {"type": "list_reply", "list_reply": {"id": "rating:rq_4a0eecb09b1f65b4:4", "title": "4"}}, extra={"id": "wamid.HBgNRATINGAA=="}),
    "interactive-flow": message("interactive", {"type": "nfm_reply", "nfm_reply": {"response_json": "{\"flow_token\":\"t\",\"cpf\":\"000\"}", "body": "Sent", "name": "flow"}}),
    "button": message("button", {"payload": "Parar promo\u00e7\u00f5es", "text": "Parar promo\u00e7\u00f5es"}, extra={"context": {"from": "15550783881", "id": "wamid.TEMPLATE=="}}),
    "reaction": message("reaction", {"message_id": "wamid.OUT==", "emoji": "\u2764\ufe0f"}),
    "reaction-removed": message("reaction", {"message_id": "wamid.OUT=="}),
    "order": message("order", {"catalog_id": "1234", "text": "pedido", "product_items": [{"product_retailer_id": "sku-1", "quantity": 2, "item_price": 9.9, "currency": "BRL"}]}),
    "system-number-changed": envelope({"messaging_product": "whatsapp", "metadata": META, "messages": [{
        "from": "5511987654321", "id": "wamid.SYSTEM==", "timestamp": TS, "type": "system",
        "system": {"body": "User A changed from 5511987654321 to 5511976543210", "wa_id": "5511976543210", "type": "user_changed_number"}}]}),
    # Business-scoped user ids (2026): a username user (no number shared), their user id
    # changing (system notice, then the user_id_update field), and a number change that
    # carries the new user id.
    "text-username": envelope({"messaging_product": "whatsapp", "metadata": META,
        "contacts": [{"profile": {"name": "Ana", "username": "@ana.compras"}, "user_id": "BR.13491208655302741918",
                      "parent_user_id": "BR.ENT.11815799212886844830"}],
        "messages": [{"from_user_id": "BR.13491208655302741918", "from_parent_user_id": "BR.ENT.11815799212886844830",
                      "id": "wamid.USERNAME==", "timestamp": TS, "type": "text", "text": {"body": "tem em azul?"}}]}),
    "system-user-id-changed": envelope({"messaging_product": "whatsapp", "metadata": META, "messages": [{
        "from_user_id": "BR.13491208655302741918", "id": "wamid.SYSTEMUID==", "timestamp": "1749416400", "type": "system",
        "system": {"body": "User Ana changed from BR.13491208655302741918 to BR.20871635530274191849",
                   "user_id": "BR.20871635530274191849", "parent_user_id": "BR.ENT.20871635530274191849",
                   "type": "user_changed_user_id"}}]}),
    "system-number-changed-user-id": envelope({"messaging_product": "whatsapp", "metadata": META, "messages": [{
        "from": "5511987654321", "id": "wamid.SYSTEMNUM==", "timestamp": "1749416400", "type": "system",
        "system": {"body": "User A changed from 5511987654321 to 5511976543210", "wa_id": "5511976543210",
                   "user_id": "BR.20871635530274191849", "type": "user_changed_number"}}]}),
    "user-id-update": envelope({"messaging_product": "whatsapp", "metadata": META,
        "contacts": [{"profile": {"name": "Jo\u00e3o Silva"}, "wa_id": "5511987654321"}],
        "user_id_update": [{"wa_id": "5511987654321", "detail": "User id for Jo\u00e3o Silva has been updated.",
                            "user_id": {"previous": "BR.13491208655302741918", "current": "BR.20871635530274191849"},
                            "parent_user_id": {"previous": "BR.ENT.11815799212886844830", "current": "BR.ENT.20871635530274191849"},
                            "timestamp": "1749416400"}]},
        field="user_id_update"),
    "unsupported": message("unsupported", None, extra={"errors": [{"code": 131051, "title": "Message type unknown", "message": "Message type unknown", "error_data": {"details": "Message type is currently not supported."}}]}),
    "status-sent": status("sent", {"conversation": {"id": "c1", "expiration_timestamp": "1749502783", "origin": {"type": "service"}},
                                   "pricing": {"billable": False, "pricing_model": "PMP", "category": "service", "type": "free_customer_service"}}),
    "status-delivered": status("delivered"),
    "status-read": status("read"),
    "status-failed": status("failed", {"errors": [{"code": 131047, "title": "Re-engagement message", "message": "Re-engagement message",
                                                   "error_data": {"details": "Message failed to send because more than 24 hours have passed since the customer last replied to this number."}}]}),
    "template-status": envelope({"event": "APPROVED", "message_template_id": 594425479261596, "message_template_name": "promo_ofertas",
                                 "message_template_language": "pt_BR", "reason": "NONE", "message_template_category": "MARKETING"},
                                field="message_template_status_update", time=1749416383),
    "template-quality": envelope({"previous_quality_score": "GREEN", "new_quality_score": "YELLOW", "message_template_id": 594425479261596,
                                  "message_template_name": "promo_ofertas", "message_template_language": "pt_BR"},
                                 field="message_template_quality_update", time=1749416383),
    "phone-quality": envelope({"display_phone_number": "15550783881", "event": "FLAGGED", "current_limit": "TIER_2K"},
                              field="phone_number_quality_update", time=1749416383),
    "status-delivered-pricing": status("delivered", {"pricing": {"billable": True, "pricing_model": "PMP", "category": "utility", "type": "regular"}}),
    "template-category-update": envelope({"message_template_id": 594425479261596, "message_template_name": "aviso_entrega",
                                          "message_template_language": "pt_BR", "previous_category": "UTILITY", "new_category": "MARKETING"},
                                         field="template_category_update", time=1749416383),
    "template-category-update-impending": envelope({"message_template_id": 594425479261597, "message_template_name": "lembrete",
                                                    "message_template_language": "pt_BR", "new_category": "UTILITY", "correct_category": "MARKETING",
                                                    "category_update_timestamp": 1749848383},
                                                   field="template_category_update", time=1749416383),
    "account-update": envelope({"phone_number": "15550783881", "event": "VERIFIED_ACCOUNT"}, field="account_update", time=1749416383),
    "user-preferences": envelope({"messaging_product": "whatsapp", "metadata": META,
                                  "contacts": [{"profile": {"name": "Jo\u00e3o"}, "wa_id": "5511987654321"}],
                                  "user_preferences": [{"wa_id": "5511987654321", "detail": "User requested to stop marketing messages",
                                                        "category": "marketing_messages", "value": "stop", "timestamp": 1749416383}]},
                                 field="user_preferences"),
    # Calling API: a customer calls the business (opens the service window), then hangs up; a
    # business-initiated call rings. Ids are `wacid.…`; `session` carries the SDP offer.
    "call-connect": envelope({"messaging_product": "whatsapp", "metadata": META,
                              "contacts": [{"profile": {"name": "Jo\u00e3o Silva"}, "wa_id": "5511987654321"}],
                              "calls": [{"id": "wacid.HBgNNTUxMTk4NzY1NDMyMRUCABEYEjQ2", "from": "5511987654321", "to": "15550783881",
                                         "event": "connect", "timestamp": "1749416383", "direction": "USER_INITIATED",
                                         "session": {"sdp_type": "offer", "sdp": "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=-\r\n"}}]},
                             field="calls"),
    "call-terminate": envelope({"messaging_product": "whatsapp", "metadata": META,
                                "contacts": [{"profile": {"name": "Jo\u00e3o Silva"}, "wa_id": "5511987654321"}],
                                "calls": [{"id": "wacid.HBgNNTUxMTk4NzY1NDMyMRUCABEYEjQ2", "from": "5511987654321", "to": "15550783881",
                                           "event": "terminate", "timestamp": "1749416503", "direction": "USER_INITIATED",
                                           "status": "COMPLETED", "start_time": "1749416383", "end_time": "1749416503", "duration": 120}]},
                               field="calls"),
    "call-status-ringing": envelope({"messaging_product": "whatsapp", "metadata": META,
                                     "statuses": [{"id": "wacid.HBgNNTUxMTk4NzY1NDMyMRUCABEYEjQ3", "timestamp": "1749416383", "type": "call",
                                                   "status": "RINGING", "recipient_id": "5511987654321",
                                                   "biz_opaque_callback_data": "crm-call-42"}]},
                                    field="calls"),
    # Coexistence (a number used in the WhatsApp Business app and the API at once): what the
    # business types in the app comes back as echoes (`from` = the business, `to` = the
    # customer; edits and deletions too), the app's past chats as `history` chunks, and its
    # address book as `smb_app_state_sync`.
    "echo-text": envelope({"messaging_product": "whatsapp", "metadata": META,
                           "message_echoes": [{"from": "15550783881", "to": "5511987654321", "id": "wamid.HBgNECHOTEXTAA==",
                                               "timestamp": "1749416450", "type": "text",
                                               "text": {"body": "Temos sim, em azul e verde \U0001F44D"}}]},
                          field="smb_message_echoes"),
    "echo-edit": envelope({"messaging_product": "whatsapp", "metadata": META,
                           "message_echoes": [{"from": "15550783881", "to": "5511987654321", "id": "wamid.HBgNECHOEDITAA==",
                                               "timestamp": "1749416470", "type": "edit",
                                               "edit": {"original_message_id": "wamid.HBgNECHOTEXTAA==",
                                                        "message": {"type": "text", "text": {"body": "Temos sim, em azul, verde e preto"}}}}]},
                          field="smb_message_echoes"),
    "echo-revoke": envelope({"messaging_product": "whatsapp", "metadata": META,
                             "message_echoes": [{"from": "15550783881", "to": "5511987654321", "id": "wamid.HBgNECHOREVOKEAA==",
                                                 "timestamp": "1749416490", "type": "revoke",
                                                 "revoke": {"original_message_id": "wamid.HBgNECHOTEXTAA=="}}]},
                            field="smb_message_echoes"),
    "history": envelope({"messaging_product": "whatsapp", "metadata": META,
                         "history": [{"metadata": {"phase": 1, "chunk_order": 2, "progress": 55},
                                      "threads": [{"id": "5511987654321", "messages": [
                                          {"from": "5511987654321", "id": "wamid.HBgNHISTORYINAA==", "timestamp": "1741640000",
                                           "type": "text", "text": {"body": "Voc\u00eas entregam no s\u00e1bado?"},
                                           "history_context": {"status": "READ"}},
                                          {"from": "15550783881", "to": "5511987654321", "id": "wamid.HBgNHISTORYOUTAA==",
                                           "timestamp": "1741640100", "type": "text", "text": {"body": "Entregamos at\u00e9 as 14h"},
                                           "history_context": {"status": "DELIVERED"}}]}]}]},
                        field="history"),
    "history-declined": envelope({"messaging_product": "whatsapp", "metadata": META,
                                  "history": [{"errors": [{"code": 2593109,
                                                           "title": "History sync is turned off by the business from the WhatsApp Business App",
                                                           "message": "History sync is turned off by the business from the WhatsApp Business App",
                                                           "error_data": {"details": "History sync is turned off by the business from the WhatsApp Business App"}}]}]},
                                 field="history"),
    "app-state-sync": envelope({"messaging_product": "whatsapp", "metadata": META,
                                "state_sync": [{"type": "contact", "contact": {"full_name": "Jo\u00e3o Silva", "first_name": "Jo\u00e3o",
                                                                               "phone_number": "5511987654321"},
                                                "action": "add", "metadata": {"timestamp": "1749416383"}},
                                               {"type": "contact", "contact": {"phone_number": "5511987650999"},
                                                "action": "remove", "metadata": {"timestamp": "1749416384"}}]},
                               field="smb_app_state_sync"),
    # Groups API: a participant writes in a group (the contact is the participant; `group_id`
    # marks the group); a status of a message sent to a group (`recipient_id` is the group id);
    # the four group fields, each a `groups[]` list of changes.
    "text-group": message("text", {"body": "Bom dia, grupo!"}, frm="5511987650100", name="Bia",
                          extra={"group_id": GROUP, "id": "wamid.HBgNGROUPTEXTAA=="}),
    "status-group-sent": status("sent", {"recipient_id": GROUP, "recipient_type": "group"}),
    "group-lifecycle-create": envelope({"messaging_product": "whatsapp", "metadata": META,
        "groups": [{"timestamp": TS, "group_id": GROUP, "type": "group_create", "request_id": "6a7b4c1e2d3f",
                    "subject": "Clientes VIP", "invite_link": "https://chat.whatsapp.com/Kx3kPz7LbQ1",
                    "join_approval_mode": "auto_approve"}]},
        field="group_lifecycle_update"),
    "group-participants-remove": envelope({"messaging_product": "whatsapp", "metadata": META,
        "groups": [{"timestamp": TS, "group_id": GROUP, "type": "group_participants_remove", "request_id": "9c8d7e6f5a4b",
                    "removed_participants": [{"wa_id": "5511987650101"}],
                    "failed_participants": [{"wa_id": "5511987650102", "errors": [{"code": 131203,
                        "message": "Recipient is not a participant", "title": "Recipient is not a participant",
                        "error_data": {"details": "The user is not a participant of the group"}}]}],
                    "errors": [{"code": 131210, "message": "Some participants could not be removed",
                                "title": "Partial failure", "error_data": {"details": "See failed_participants"}}]}]},
        field="group_participants_update"),
    "group-participants-join": envelope({"messaging_product": "whatsapp", "metadata": META,
        "groups": [{"timestamp": TS, "group_id": GROUP, "type": "group_participants_add", "reason": "invite_link",
                    "added_participants": [{"wa_id": "5511987650103"}]}]},
        field="group_participants_update"),
    "group-settings-update": envelope({"messaging_product": "whatsapp", "metadata": META,
        "groups": [{"timestamp": TS, "group_id": GROUP, "type": "group_settings_update", "request_id": "1f2e3d4c5b6a",
                    "group_subject": {"text": "Clientes VIP 2026", "update_successful": True},
                    "group_description": {"text": "Ofertas e avisos", "update_successful": True}}]},
        field="group_settings_update"),
    "group-status-suspend": envelope({"messaging_product": "whatsapp", "metadata": META,
        "groups": [{"timestamp": TS, "group_id": GROUP, "type": "group_suspend"}]},
        field="group_status_update"),
}


def apigw(method, body=None, headers=None, query="", b64=False):
    hdrs = {"content-type": "application/json", "user-agent": "facebookexternalua", "host": "abc123.execute-api.us-east-1.amazonaws.com"}
    hdrs.update(headers or {})
    ev = {
        "version": "2.0", "routeKey": f"{method} /webhook", "rawPath": "/webhook", "rawQueryString": query, "headers": hdrs,
        "requestContext": {"accountId": "123456789012", "apiId": "abc123", "domainName": "abc123.execute-api.us-east-1.amazonaws.com",
                           "domainPrefix": "abc123", "http": {"method": method, "path": "/webhook", "protocol": "HTTP/1.1",
                           "sourceIp": "173.252.95.1", "userAgent": "facebookexternalua"}, "requestId": "JKJaXmPLvHcESHA=",
                           "routeKey": f"{method} /webhook", "stage": "$default", "time": "21/Nov/2026:10:00:00 +0000", "timeEpoch": 1795255200000},
        "isBase64Encoded": b64,
    }
    if query:
        ev["queryStringParameters"] = dict(p.split("=", 1) for p in query.split("&"))
    if body is not None:
        ev["body"] = base64.b64encode(body).decode() if b64 else body.decode()
    return ev


def sign(body, secret=SECRET):
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def write(name, obj, raw=False):
    with open(os.path.join(HERE, name), "w") as f:
        f.write(obj if raw else json.dumps(obj, indent=2, ensure_ascii=False) + "\n")


for name, body in BODIES.items():
    text = meta_json(body)
    write(f"meta/{name}.json", text + "\n", raw=True)
    write(f"webhook-post-{name}.json", apigw("POST", text.encode(), {"x-hub-signature-256": sign(text.encode())}))

text = meta_json(BODIES["text"]).encode()
write("webhook-post-base64.json", apigw("POST", text, {"X-Hub-Signature-256": sign(text)}, b64=True))
write("webhook-post-forged.json", apigw("POST", text, {"x-hub-signature-256": sign(text, b"not-the-app-secret")}))
write("webhook-post-unsigned.json", apigw("POST", text))
write("webhook-post-wrong-prefix.json", apigw("POST", text, {"x-hub-signature-256": sign(text).replace("sha256=", "sha1=")}))
write("webhook-post-not-json.json", apigw("POST", b"hello", {"x-hub-signature-256": sign(b"hello")}))
write("webhook-post-not-envelope.json", apigw("POST", b'{"object":"page","entry":[]}', {"x-hub-signature-256": sign(b'{"object":"page","entry":[]}')}))
write("webhook-get-verify.json", apigw("GET", query="hub.mode=subscribe&hub.verify_token=local-verify-token&hub.challenge=1158201444"))
write("webhook-get-wrong-token.json", apigw("GET", query="hub.mode=subscribe&hub.verify_token=guess&hub.challenge=1158201444"))
