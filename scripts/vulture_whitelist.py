"""Names vulture (`make lint`, settings in pyproject.toml) reports as unused that are used from outside
the product's Python code: by a framework, a template, the API's JSON or the tests. Never executed.

Route functions, typer commands and pydantic validators are ignored by their
decorator in pyproject.toml; what is below is read some other way. Something that is really unused
is deleted, not listed here.
"""

# ruff: noqa
_ = object()

# Response and request models (pydantic): fields are read by serialisation, i.e. by API clients.
has_secret  # botflows/schemas.py
parent_id, started_at, ended_at, fallback, older_than_hours  # campaigns/schemas.py
has_access_token, has_app_secret, has_verify_token  # numbers/schemas.py
targeted, received_pct, read_pct, replied_pct, sends_per_minute, latency  # reports/schemas.py
waiting_reasons  # reports/schemas.py: the stats' waiting messages by reason
done_pct, pace_per_minute, estimated_finish  # reports/schemas.py: a campaign's progress in GET /campaigns
points_low, points_high  # reports/lift.py, reports/schemas.py: the lift's interval, read by the stats page and API
is_holdout, variant_of  # campaigns/experiment.py: the draws in Python, which the tests and docs check the SQL against
reached_24h, available_now  # campaigns/schemas.py: the audience preview's messaging limit
open_now, opens_at, outside_now, next_opening, invalid_timezone_tags  # campaigns/schemas.py: the audience preview against a send window
closed  # inbox/schemas.py: a value of the status enum, given by clients
merge_needed  # contacts/schemas.py
campaign_kind, engaged_in  # contacts/schemas.py: a contact's campaigns, read by the API and the contact's page
viewer  # auth/principal.py: a role, given by clients and the CLI

# Table columns (SQLAlchemy models): written by the code, read by reports, the CSV export and SQL.
parent_id, started_at, ended_at  # models/campaign.py
targeted  # models/campaign_stats.py
finished_at  # models/job.py
event_at  # models/webhook_event.py
recorded_at, occurred_at  # models/template_event.py, models/number_event.py and their API schemas: the pages and API

# SQLAlchemy's TypeDecorator protocol (kit/types.py) and the DB-API connection (kit/db.py).
impl, cache_ok
_.process_bind_param
_.process_result_value
_.isolation_level

# Context-manager protocol: __aexit__'s arguments (demo/api.py, simulator/server.py, whatsapp/client.py).
exc_type, tb

# uvicorn.Server's flag, set to stop the simulator's server (simulator/server.py).
_.should_exit

# Jinja templates (web/templates/wizard/*.html) read these of the message preview (web/message.py).
placeholder, header_text
_.needs_media
# web/templates/macros.html (followup_lineage) reads this of a follow-up's lineage (campaigns/followups.py).
parent_name

# What WhatsApp's webhooks and Graph carry, parsed in full (whatsapp/events.py, whatsapp/client.py)
# and checked by tests/whatsapp against the recorded corpus; the engine reads a subset.
href, recipient_id, recipient_user_id, pricing_category, pricing_type, profile_name, context_from
previous_quality_score, new_quality_score, current_limit, old_limit, max_daily_conversations_per_business
ignored
_.ignored
throughput_level
_.send_template  # the client's API for a template message, exercised by tests/whatsapp and tests/simulator

# The simulator's control API and record, used by tests and bench (simulator/server.py, state.py).
_.set_webhook_url
_.set_scenario
_.update_scenario
_.advance_clock
seq, parameters
_.seq
_.parameters

# Seams the tests observe.
guard_cell  # kit/csv.py: the rule the report export's SQL implements, its reference in tests/reports
SQLITE_MEMORY_STATISTICS_OFF  # kit/db.py: set at import; tests/kit checks it took effect
_.deliver_due  # replies/delivery.py: one delivery round to completion (tests/replies)
_.polling  # reports/hub.py: whether a campaign's stats are polled (tests/reports)

# Template status webhooks are parsed (whatsapp/webhooks.py) but not applied to templates yet: these
# are the functions that would apply them; tests/templates/test_template_sync.py tests them.
get_usable_template, apply_template_status

# Cost forecast and actual cost (docs/costs.md): API fields read by clients and the UI's templates.
other_countries, rate_card_effective, over_budget, held_out  # pricing/forecast.py: CostForecast
budget_used_pct  # reports/schemas.py: CostOut
pricing_model  # whatsapp/events.py: parsed from Meta's pricing object, kept in the stored status
countries  # pricing/forecast.py: CostForecast, read by the review's template
utility, authentication  # pricing/api.py: MarketRates, the API's rate card rows
# Events out (events/): delivery-log columns written through `update(...).values(...)` and read by the
# API's schema and the log page; and the two event types the quality circuit breaker and the budget
# cap emit through `events.outbox.record_campaign_events`.
last_status_code, last_attempt_at
_.last_status_code
_.last_attempt_at
_.campaign_paused_by_breaker
_.campaign_budget_reached

# The quality circuit breaker (docs/quality.md): counter columns written by name through
# `counters.add(**deltas)` and read by `QUALITY_FIELDS`; an API field read by clients, the stats page and the demo.
_.quality_sends
_.quality_failures
_.quality_blocks
_.quality_opt_outs
window_sends  # reports/schemas.py: BreakerOut
