-- The notes of Quillmoss, a fictional 40-person software company: the fixture database of
-- examples/mcp/notes_server.py (loaded into a temporary SQLite file at start, then opened read-only).
-- Every name, date and number below is made up: a model cannot guess them, it has to look them up.
-- A database of your own needs the same three tables (notes_server.py --db PATH).

CREATE TABLE notes (
    id INTEGER PRIMARY KEY,
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    updated TEXT NOT NULL            -- ISO date of the last edit
);

CREATE TABLE note_tags (
    note_id INTEGER NOT NULL REFERENCES notes(id),
    tag TEXT NOT NULL,
    PRIMARY KEY (note_id, tag)
);

INSERT INTO notes (id, title, body, updated) VALUES
(1, 'Who owns which service',
 'Service owners (the team answers for it, the named person decides):
- billing (invoices, dunning, tax lines): Billing team, lead Ilse Marchetti-Okafor
- payments-gateway (card and SEPA processing): Payments team, lead Dagny Fairweather
- ledger-api (the internal accounting API every service writes to): Platform team, lead Wren Adeyemi-Kowalczyk
- search (customer-facing search): Discovery team, lead Ruairi Castellanos since 2026-02-01 (before: Tobiah Sandstrom)
- status page and incident process: SRE, lead Mireille Oduya',
 '2026-02-03'),

(2, 'Phone directory: desk and escalation extensions',
 'Desk extensions ring the desk phone; escalation extensions ring the on-call mobile bridge and are for pages only.
- Mireille Oduya (head of SRE): desk 4100, escalation 7100
- Ilse Marchetti-Okafor: desk 4471, escalation 7471
- Tobiah Sandstrom: desk 4418, escalation 7418
- Keziah Lindqvist-Baptiste: desk 4526, escalation 7526
- Dagny Fairweather: desk 4390, escalation 7390
- Wren Adeyemi-Kowalczyk: desk 4502, escalation 7502
- Ruairi Castellanos: desk 4633, escalation 7633',
 '2026-02-27'),

(3, 'Billing on-call rotation, February 2026 (superseded)',
 'Rotation weeks start on Monday, 09:00 Europe/Berlin.
- week of 2026-02-02: Ilse Marchetti-Okafor
- week of 2026-02-09: Tobiah Sandstrom
- week of 2026-02-16: Keziah Lindqvist-Baptiste
- week of 2026-02-23: Ilse Marchetti-Okafor
Superseded by the March rotation (note 4) for anything from 2026-03-02 on.',
 '2026-01-26'),

(4, 'Billing on-call rotation, March 2026',
 'Rotation weeks start on Monday, 09:00 Europe/Berlin. Page the primary through the escalation extension.
- week of 2026-03-02: primary Tobiah Sandstrom (escalation ext. 7418), secondary Ilse Marchetti-Okafor
- week of 2026-03-09: primary Keziah Lindqvist-Baptiste (escalation ext. 7526), secondary Tobiah Sandstrom
- week of 2026-03-16: primary Ilse Marchetti-Okafor (escalation ext. 7471), secondary Keziah Lindqvist-Baptiste
- week of 2026-03-23: primary Tobiah Sandstrom (escalation ext. 7418), secondary Keziah Lindqvist-Baptiste
- week of 2026-03-30: primary Keziah Lindqvist-Baptiste (escalation ext. 7526), secondary Ilse Marchetti-Okafor
Swap on 2026-02-24: Keziah took the week of 2026-03-09 from Ilse (billing v3.8 release week, see note 7).',
 '2026-02-24'),

(5, 'Payments-gateway on-call rotation, March 2026',
 'Rotation weeks start on Monday, 09:00 Europe/Berlin.
- week of 2026-03-02: Dagny Fairweather (escalation ext. 7390)
- week of 2026-03-09: Wren Adeyemi-Kowalczyk (escalation ext. 7502)
- week of 2026-03-16: Dagny Fairweather (escalation ext. 7390)
- week of 2026-03-23 and 2026-03-30: Wren Adeyemi-Kowalczyk (escalation ext. 7502)',
 '2026-02-20'),

(6, 'Escalation policy for pages',
 'A page goes to the primary on call for the service. No acknowledgement in 15 minutes: page the secondary.
No acknowledgement in 30 minutes, or a customer-visible outage of billing or payments: call the head of SRE,
Mireille Oduya, on escalation 7100. Never page through desk extensions.',
 '2025-11-12'),

(7, 'Release calendar, first half of 2026',
 '- billing v3.8 (new tax lines for Austria): code freeze 2026-03-06, release Wednesday 2026-03-11
- payments-gateway 2.14 (SEPA instant): release 2026-03-25
- ledger-api v2.3 (bulk journal import): release 2026-04-15
- search 5.0 (typo tolerance): release 2026-05-06
No releases between 2026-03-30 and 2026-04-06 (quarter close).',
 '2026-02-18'),

(8, 'Ledger API rate limits',
 'Limits per service token, enforced at the gateway:
- 240 requests per minute, bursts up to 40
- POST /v2/journal/bulk: 6 requests per minute, at most 5,000 lines per request
- over the limit: HTTP 429 with a Retry-After header in seconds; back off, never retry at once
Tokens of the billing service have a raised limit of 600 requests per minute until 2026-04-30.',
 '2026-01-30'),

(9, 'Ledger API tokens and rotation',
 'Each service has its own token, issued by the Platform team (ask Wren Adeyemi-Kowalczyk). Tokens rotate on the
first Tuesday of every quarter; the old token keeps working for 72 hours. Never share a token between services.',
 '2025-12-02'),

(10, 'Ledger API v1 sunset',
 'Ledger API v1 stops answering on 2026-06-30. From 2026-05-15 it answers every tenth request with HTTP 410 as a
reminder. Billing moved to v2 in January; search still calls v1 for reports (owner: Ruairi Castellanos).',
 '2026-02-10'),

(11, 'Incident INC-2291: duplicate invoices',
 'On 2026-01-27 between 02:10 and 03:05 billing sent 312 customers a second copy of their invoice. Cause: a retry
of the nightly run after a ledger-api 429 without an idempotency key. Fix: idempotency keys on every invoice run
(billing v3.7.2). On call: Ilse Marchetti-Okafor.',
 '2026-01-29'),

(12, 'Search service handover',
 'From 2026-02-01 the Discovery team (lead Ruairi Castellanos) owns search. The search on-call rotation moves to
Discovery from the week of 2026-03-02; until then Tobiah Sandstrom stays on call for search.',
 '2026-01-20'),

(13, 'Office closures 2026',
 'The office is closed on 2026-04-03 and 2026-04-06 (Easter) and on 2026-05-01. On-call rotations run as usual.',
 '2025-12-15'),

(14, 'Status page process',
 'SRE posts to the status page within 20 minutes of a customer-visible incident. The on-call engineer writes the
first draft; Mireille Oduya or her deputy approves it.',
 '2025-10-08'),

(15, 'Onboarding: VPN and laptop',
 'New starters get their laptop on day one. The VPN profile comes from the IT portal; the on-call mobile bridge
needs the VPN. Ask in #it-help, never by phone.',
 '2025-09-01');

INSERT INTO note_tags (note_id, tag) VALUES
(1, 'services'), (1, 'people'),
(2, 'people'), (2, 'phones'),
(3, 'oncall'), (3, 'billing'),
(4, 'oncall'), (4, 'billing'),
(5, 'oncall'), (5, 'payments'),
(6, 'oncall'), (6, 'policy'),
(7, 'releases'), (7, 'billing'),
(8, 'ledger-api'), (8, 'limits'),
(9, 'ledger-api'), (9, 'security'),
(10, 'ledger-api'), (10, 'releases'),
(11, 'incidents'), (11, 'billing'),
(12, 'services'), (12, 'search'),
(13, 'office'),
(14, 'incidents'), (14, 'policy'),
(15, 'office'), (15, 'onboarding');
