"""The report's page: one Jinja2 template with its CSS inline.

Self-contained on purpose: no script, no web font, no external stylesheet or image; charts
arrive as base64 PNG ``data:`` URIs. Autoescaping is on, so every CRM value is escaped.
Lead rows carry ``data-lead-id``, ``data-p``, ``data-grade`` and, per reason,
``data-reason`` attributes so tests (and anyone scraping the page) can read exact values.
"""

# Markup lines stay whole so the page source reads like the page; hence no line limit.
# ruff: noqa: E501

from __future__ import annotations

CSS = """
:root { --ink:#1d2733; --muted:#5b6673; --line:#dde3ea; --soft:#f5f7fa; --main:#2457a6;
  --up:#1a7f4b; --down:#c0392b; }
* { box-sizing: border-box; }
body { margin:0; font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,
  sans-serif; color:var(--ink); background:#fff; }
header { background:var(--main); color:#fff; padding:22px 32px 18px; }
header h1 { margin:0 0 4px; font-size:26px; }
header p { margin:0; opacity:.9; }
nav { padding:8px 32px; background:var(--soft); border-bottom:1px solid var(--line);
  font-size:14px; }
nav a { color:var(--main); margin-right:18px; text-decoration:none; display:inline-block; }
main { max-width:1180px; margin:0 auto; padding:8px 32px 40px; }
section { border-bottom:1px solid var(--line); padding:10px 0 24px; }
h2 { font-size:21px; margin:18px 0 8px; }
h3 { font-size:16px; margin:18px 0 6px; }
p.note, .muted { color:var(--muted); font-size:13px; }
p.warning { background:#fff4e5; border-left:4px solid #b45309; padding:8px 12px; color:#5c2d00; }
.cards { display:flex; flex-wrap:wrap; gap:14px; margin:12px 0; }
.card { flex:1 1 200px; background:var(--soft); border:1px solid var(--line);
  border-radius:8px; padding:12px 14px; }
.card b { display:block; font-size:24px; color:var(--main); }
.card span { font-size:13px; color:var(--muted); }
table { border-collapse:collapse; width:100%; margin:6px 0 10px; font-size:13.5px; }
th, td { text-align:left; vertical-align:top; padding:6px 8px;
  border-bottom:1px solid var(--line); }
.scroll { overflow-x:auto; max-width:100%; }
th { background:var(--soft); font-weight:600; }
td.num, th.num { text-align:right; white-space:nowrap; }
table.compact { width:auto; min-width:55%; }
table.compact th, table.compact td { padding:6px 18px 6px 8px; }
tr.lead td.score { font-weight:700; }
.grade { display:inline-block; width:24px; text-align:center; border-radius:4px;
  font-weight:700; color:#fff; }
.grade-A { background:#176b40; } .grade-B { background:#1f6a94; }
.grade-C { background:#8a5a12; } .grade-D { background:#5b6673; }
p.grades-key .grade { margin:0 4px 0 8px; }
.nowrap { white-space:nowrap; }
ul.reasons { margin:0; padding-left:16px; }
ul.reasons li { margin:0 0 2px; }
li.for::marker { content:"▲ "; color:var(--up); }
li.against::marker { content:"▼ "; color:var(--down); }
li.none { list-style:none; color:var(--muted); }
details { border:1px solid var(--line); border-radius:6px; margin:8px 0; padding:4px 10px; }
details summary { cursor:pointer; font-weight:600; padding:4px 0; }
.fig { margin:8px 0; }
.fig img { max-width:100%; height:auto; }
.row { display:flex; flex-wrap:wrap; gap:18px; }
.row .fig { flex:1 1 420px; min-width:0; }
dl.facts { display:grid; grid-template-columns:200px 1fr; gap:4px 16px; font-size:14px; }
dl.facts dt { color:var(--muted); }
dl.facts dd { margin:0; }
@media (max-width:640px) {
  header, nav { padding-left:14px; padding-right:14px; }
  main { padding:8px 14px 32px; }
  header h1 { font-size:21px; }
  table.leads, table.leads tbody, table.leads tr, table.leads td { display:block; width:100%; }
  table.leads thead { display:none; }
  table.leads tr { border:1px solid var(--line); border-radius:8px; margin:0 0 10px; padding:6px 10px; }
  table.leads td { border:0; padding:2px 0; text-align:left; white-space:normal; overflow-wrap:anywhere; }
  table.leads td.meta { display:inline-block; width:auto; margin-right:14px; }
  table.leads td[data-label]::before { content:attr(data-label) ": "; color:var(--muted); font-size:13px; }
  .fig { overflow-x:auto; }
  .fig img { max-width:none; }
  dl.facts { grid-template-columns:1fr; }
  dl.facts dd { margin-bottom:6px; }
}
@media print { nav { display:none; } section { break-inside:avoid-page; } }
"""

TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }}</title>
<style>{{ css }}</style>
</head>
<body>
<header>
<h1>{{ title }}</h1>
<p>{{ leads_scored|num }} leads scored as of {{ as_of }} with {{ label }}</p>
</header>
<nav>{% for id, name in sections %}<a href="#{{ id }}">{{ name }}</a>{% endfor %}</nav>
<main>
{% macro reason_list(items, kind) %}<ul class="reasons">{% for key, text in items %}<li class="reason {{ kind }}" data-reason="{{ key }}">{{ text }}</li>{% else %}<li class="none">no field moves it by {{ min_points }} pts or more</li>{% endfor %}</ul>{% endmacro %}
{% macro lead_rows(rows, show_owner, low=false) %}
{% set first, second = ("Why it scores low", "What speaks for it") if low else ("Why it scores high", "What holds it back") %}
<div class="scroll"><table class="leads">
<thead><tr><th class="num">Rank</th><th>Lead</th>{% if show_owner %}<th>Owner</th>{% endif %}
<th class="num">Score</th><th>Grade</th>{% if interval %}<th class="num">Likely range</th>{% endif %}
{% if explains %}<th>{{ first }}</th><th>{{ second }}</th>{% endif %}</tr></thead>
<tbody>
{% for r in rows %}
<tr class="lead" data-lead-id="{{ r.id }}" data-p="{{ r.p_exact }}" data-grade="{{ r.grade }}"
{%- if interval %} data-p-low="{{ r.low_exact }}" data-p-high="{{ r.high_exact }}"{% endif %}>
<td class="num meta" data-label="Rank">{{ r.rank|num }}</td><td class="meta" data-label="Lead">{{ r.id }}</td>
{% if show_owner %}<td class="meta" data-label="Owner">{{ r.owner }}</td>{% endif %}
<td class="num score meta" data-label="Score">{{ r.p|pct }}</td><td class="meta" data-label="Grade"><span class="grade grade-{{ r.grade }}">{{ r.grade }}</span></td>
{% if interval %}<td class="num meta" data-label="Likely range">{{ r.low|pct }} – {{ r.high|pct }}</td>{% endif %}
{% if explains %}
{% if low %}<td data-label="{{ first }}">{{ reason_list(r.reasons_against, "against") }}</td>
<td data-label="{{ second }}">{{ reason_list(r.reasons_for, "for") }}</td>
{% else %}<td data-label="{{ first }}">{{ reason_list(r.reasons_for, "for") }}</td>
<td data-label="{{ second }}">{{ reason_list(r.reasons_against, "against") }}</td>{% endif %}
{% endif %}
</tr>
{% endfor %}
</tbody></table></div>
{% endmacro %}
{% macro figure(fig) %}<div class="fig"><img src="data:image/png;base64,{{ fig.data }}" width="{{ fig.width }}" alt="{{ fig.alt }}"></div>{% endmacro %}

<section id="summary">
<h2>Summary</h2>
<p><b>What is predicted:</b> {{ description }}</p>
<p><b>Trained on</b> {{ s.n_train|num }} closed leads{% if s.window %} created {{ s.window }}{% endif %};
tested on the {{ s.n_test|num }} most recent ones, which the model never saw.</p>
<div class="cards">
<div class="card"><b>{{ s.auc_word }}</b><span>ranking quality (ROC AUC {{ s.auc }})</span></div>
{% if s.top_lift %}<div class="card"><b>{{ s.top_lift }}×</b><span>the top {{ s.top_share }} of test leads convert at {{ s.top_rate|pct }}, {{ s.top_lift }}× the average</span></div>{% endif %}
<div class="card"><b>{{ leads_scored|num }}</b><span>leads scored: {% for g, n in grade_counts.items() %}{{ n|num }} {{ g }}{% if not loop.last %} · {% endif %}{% endfor %}</span></div>
</div>
<p>{{ s.auc_sentence }}{% if s.leaderboard %} {{ s.leaderboard }}{% endif %}{% if s.top_lift %} The top {{ s.top_share }} of the ranked list holds {{ s.top_capture|pct }} of all conversions.{% endif %}</p>
<p class="average"><b>The average:</b> {{ average|pct }} of the {{ s.n_train|num }} training leads converted. Every “average” and “overall” rate in this report is this one.</p>
<p class="grades-key"><b>Grades</b> by score:{% for g, rule in grade_rules %} <span class="nowrap"><span class="grade grade-{{ g }}">{{ g }}</span>{{ rule }}{% if not loop.last %};{% else %}.{% endif %}</span>{% endfor %}</p>
{% if explains %}<p class="note">Reasons give the fields that move a lead's score by {{ min_points }} pts (percentage points) or more, strongest first, with how far each moves it; a rate is quoted when such leads convert on the same side of the average.</p>{% endif %}
{% if rejected %}<p class="note">{{ rejected_total|num }} of {{ rows_read|num }} rows could not be scored:
{% for kind, n in rejected.items() %}{{ kind }} ({{ n|num }}){% if not loop.last %}; {% endif %}{% endfor %}.</p>{% endif %}
<h3>Conversion by grade on the test leads</h3>
<div class="scroll"><table class="grades compact"><thead><tr><th>Grade</th><th class="num">Share of test leads</th>
<th class="num">Predicted</th><th class="num">Actually converted</th><th class="num">Leads in this list</th></tr></thead><tbody>
{% for g in grades %}<tr><td><span class="grade grade-{{ g.grade }}">{{ g.grade }}</span></td>
<td class="num">{{ g.share|pct }}</td><td class="num">{{ g.predicted_rate|pct }}</td>
<td class="num">{{ g.observed_rate|pct }}</td><td class="num">{{ grade_counts[g.grade]|num }}</td></tr>{% endfor %}
</tbody></table></div>
</section>

<section id="calls">
<h2>Calls to make</h2>
<p class="note">The {{ top_rows|length }} highest-scored leads{% if interval %}, with the range the score is 90% likely to lie in{% endif %}.
Scores, grades and reasons are those of the score file.</p>
{{ lead_rows(top_rows, owner_lists is not none) }}
{% if owner_lists is not none %}
<h3>Per {{ owner_label|lower }}</h3>
<p class="note">Each {{ owner_label|lower }}'s most promising leads first, then their least promising.</p>
{% for o in owner_lists %}
<details><summary>{{ o.owner }} — {{ o.n|num }} leads ({% for g, n in o.grades.items() %}{{ n|num }} {{ g }}{% if not loop.last %} · {% endif %}{% endfor %})</summary>
<h3>Most promising leads of {{ o.owner }}</h3>{{ lead_rows(o.best, false) }}
{% if o.worst %}<h3>Least promising leads of {{ o.owner }}</h3>{{ lead_rows(o.worst, false, true) }}{% endif %}
</details>
{% endfor %}
{% endif %}
</section>

<section id="drivers">
<h2>What drives conversion</h2>
{% if figs.drivers %}
<p class="note">How far each CRM field moves scores, averaged over {{ drivers_n|num }} leads of this list{% if drivers_paired %} (orange: the same for the Bayesian model, whose effects are smoother and shrunk toward the average){% endif %}
(exact contributions: the average lead's score plus every field's push equals the lead's score).</p>
{{ figure(figs.drivers) }}
<h3>Lead by lead</h3>
<p class="note">One dot per lead: right of the line the field raises the score, left it lowers it.
Colour shows the field's value for numbers (blue low, red high); grey for categories.</p>
{{ figure(figs.beeswarm) }}
{% endif %}
{% if figs.forest %}
<h3 id="bayes-segments">Conversion rate by segment (Bayesian model)</h3>
<p class="note">Each level's rate with the other fields at average, and the range it is 90% likely to lie in.
Hollow grey points are levels with thin data: too few leads for a firm number. The largest {{ forest_levels }} levels of each field are shown.</p>
{{ figure(figs.forest) }}
{% endif %}
{% if not figs.drivers and not figs.forest %}<p class="note">This model does not break scores down by field.</p>{% endif %}
</section>

<section id="detail">
<h2>Lead detail</h2>
{% if waterfalls %}
<p class="note">The top {{ waterfalls|length }} leads taken apart: from the model's starting point (its score
before any field is known), each field pushes up (green) or down (red) to this lead's score, in percentage
points (pts). The fields quoted as reasons are always drawn; the smallest pushes are summed into one bar.</p>
<div class="row">
{% for w in waterfalls %}<div class="fig waterfall" data-lead-id="{{ w.lead_id }}" data-base="{{ w.base_exact }}" data-p="{{ w.score_exact }}">
<h3>#{{ loop.index }} {{ w.lead_id }} — {{ w.score|pct }}</h3>{{ figure(w.fig) }}</div>
{% endfor %}</div>
{% else %}<p class="note">This model does not break scores down by field.</p>{% endif %}
</section>

<section id="segments">
<h2>Segments</h2>
<p class="note">Per segment on the test leads: predicted and actual conversion, and calibration error
(ECE: the average gap between predicted and actual rates, in percentage points). The last two columns describe this lead list.</p>
{% for name, rows in segments %}
<h3>{{ name }}</h3>
<div class="scroll"><table class="segments"><thead><tr><th>Level</th><th class="num">Test leads</th><th class="num">Predicted</th>
<th class="num">Actual</th><th class="num">Calibration error</th><th class="num">Leads in this list</th>
<th class="num">Average score</th></tr></thead><tbody>
{% for r in rows %}<tr><td>{{ r.level }}</td><td class="num">{{ r.n|num }}</td><td class="num">{{ r.predicted_rate|pct }}</td>
<td class="num">{{ r.observed_rate|pct }}</td><td class="num">{{ r.ece|pts }}</td><td class="num">{{ r.list_n|num }}</td>
<td class="num">{{ r.list_mean_score|pct }}</td></tr>{% endfor %}
</tbody></table></div>
{% else %}<p class="note">The task names no segment fields.</p>
{% endfor %}
</section>

<section id="health">
<h2>Model health</h2>
{% for w in health_warnings %}<p class="warning" role="alert"><b>Warning:</b> {{ w }}</p>
{% endfor %}<div class="row">
{% if figs.calibration %}<div class="fig"><h3>Calibration</h3>
<p class="note">Points on the dashed line: leads given 30% convert 30% of the time.</p>{{ figure(figs.calibration) }}</div>{% endif %}
{% if figs.lift %}<div class="fig"><h3>Lift</h3>
<p class="note">Conversion rate per tenth of the ranked test leads, against the average.</p>{{ figure(figs.lift) }}</div>{% endif %}
</div>
<h3>Holdout numbers</h3>
<div class="scroll"><table class="metrics compact"><thead><tr><th>Measure</th><th class="num">This model</th>{% if baseline %}<th class="num">Simple scorecard</th>{% endif %}</tr></thead><tbody>
{% for name, value, base in metrics %}<tr><td>{{ name }}</td><td class="num">{{ value }}</td>{% if baseline %}<td class="num">{{ base }}</td>{% endif %}</tr>{% endfor %}
</tbody></table></div>
<dl class="facts">
{% for name, value in facts %}<dt>{{ name }}</dt><dd>{{ value }}</dd>{% endfor %}
</dl>
</section>
{% if timing %}
<section id="timing">
<h2>How fast do segments convert</h2>
<p class="note">Share of leads converted by days since creation. Solid: the time-to-convert model's
average for the segment's leads; dashed: what actually happened (leads still open count as unknown,
not as lost). Leads in the score list carry their own chance of converting within
{{ timing.horizons|join(", ") }} days and the expected days to convert.</p>
<div class="row">
{% for c in timing.charts %}<div class="fig"><h3>Time to convert by {{ c.field }}</h3>{{ figure(c.fig) }}</div>{% endfor %}
</div>
<h3>Holdout check</h3>
<div class="scroll"><table class="metrics compact"><thead><tr><th>Model</th><th class="num">Concordance</th>
<th class="num">Integrated Brier</th><th>Calibration error by horizon</th></tr></thead><tbody>
{% for r in timing.rows %}<tr><td>{{ r.model }}</td><td class="num">{{ r.c_index }}</td>
<td class="num">{{ r.ibs }}</td><td>{{ r.ece }}</td></tr>{% endfor %}
</tbody></table></div>
</section>
{% endif %}
{% if drift %}
<section id="drift">
<h2>Drift</h2>
<p class="note">How far these {{ drift.n_rows|num }} leads (seen as of {{ drift.as_of }}) differ from the
leads the model was trained on, by population stability index (PSI): below 0.1 stable, 0.1–0.25 a moderate
shift, above 0.25 a major one (retrain).</p>
<p><b>Model score:</b> PSI {{ drift.score_psi }} ({{ drift.score_status }})</p>
{% if drift.rows %}
<div class="scroll"><table class="drift compact"><thead><tr><th>Field</th><th class="num">PSI</th><th>Status</th>
<th>Missing (training → now)</th><th>New values</th><th>Gone values</th></tr></thead><tbody>
{% for r in drift.rows %}<tr class="drift-{{ r.status }}"><td>{{ r.field }}</td><td class="num">{{ r.psi }}</td>
<td>{{ r.status }}</td><td>{{ r.missing }}</td><td>{{ r.new }}</td><td>{{ r.vanished }}</td></tr>{% endfor %}
</tbody></table></div>
{% else %}<p class="note">None of the {{ drift.n_fields|num }} fields moved.</p>{% endif %}
</section>
{% endif %}
</main>
</body>
</html>
"""
