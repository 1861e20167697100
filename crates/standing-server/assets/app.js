// Standing's operator dashboard: hash routes over the HTTP API, every chart drawn as inline SVG.
// Strings from the API reach the page only as text nodes or attribute values, never as markup.
'use strict';

const KEY_STORAGE = 'standing-key';
const POLL_INTERVAL_MS = 2000;
const SPARKLINE_POINTS = 60;
const SVG_NS = 'http://www.w3.org/2000/svg';
// Best grade to worst; a model's grades are spread over these stops (all keep white text legible).
const GRADE_STOPS = ['#065f46', '#15803d', '#4d7c0f', '#a16207', '#c2410c', '#b91c1c'];

const main = document.getElementById('main');
let routeGeneration = 0; // bumped on every navigation, so answers for a page already left are dropped
let pollTimer = 0;
let rerender = null; // redraws the current page from its data, for a new width
let renderedWidth = 0;
let modelPromise = null;
let keyInMemory = null; // used when localStorage is unavailable
const eventRates = []; // total events/s seen at each overview poll, for the sparkline

// ---------------------------------------------------------------- DOM

function el(tag, attributes, ...children) {
  return build(document.createElement(tag), attributes, children);
}

function svg(tag, attributes, ...children) {
  return build(document.createElementNS(SVG_NS, tag), attributes, children);
}

function build(node, attributes, children) {
  for (const [name, value] of Object.entries(attributes || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name === 'style') Object.entries(value).forEach(([property, v]) => node.style.setProperty(property, v));
    else if (name.startsWith('on')) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? '' : String(value));
  }
  appendAll(node, children);
  return node;
}

function appendAll(node, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) appendAll(node, child);
    else node.append(child instanceof Node ? child : String(child)); // a string becomes a text node
  }
}

const text = (x, y, content, attributes) => svg('text', { x: round(x), y: round(y), ...attributes }, content);
const round = (value) => Math.round(value * 10) / 10;
const truncate = (value, length) => (value.length > length ? value.slice(0, length - 1) + '…' : value);
const subjectHref = (subject) => '#/subject/' + encodeURIComponent(subject);
const subjectLink = (subject) => el('a', { href: subjectHref(subject), class: 'subject' }, subject);

function card(title, subtitle, ...content) {
  return el('section', { class: 'card' }, el('header', { class: 'card-head' }, el('h2', {}, title), subtitle && el('p', { class: 'muted' }, subtitle)), content);
}

function table(columns, rows, className, empty) {
  if (!rows.length) return el('p', { class: 'empty' }, empty || 'None.');
  return el('div', { class: 'table-wrap' }, el('table', { class: className || null },
    el('thead', {}, el('tr', {}, columns.map(([label, kind]) => el('th', { scope: 'col', class: kind || null }, label)))),
    el('tbody', {}, rows.map((cells) => el('tr', {}, cells.map((cell, i) => el('td', { class: columns[i][1] || null }, cell)))))));
}

function figure(label, value, detail, rawValue, kind) {
  return el('div', { class: kind ? `figure ${kind}` : 'figure' }, el('span', { class: 'figure-label' }, label),
    el('span', { class: 'figure-value', 'data-value': rawValue === undefined ? null : rawValue }, value), detail && el('span', { class: 'muted' }, detail));
}

// ---------------------------------------------------------------- formatting

const integerFormat = new Intl.NumberFormat('en-US');
const decimalFormat = new Intl.NumberFormat('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 });
const rateFormat = new Intl.NumberFormat('en-US', { maximumFractionDigits: 1 });
const compactFormat = new Intl.NumberFormat('en-US', { notation: 'compact', maximumFractionDigits: 1 });
const monthFormat = new Intl.DateTimeFormat('en-US', { month: 'short', year: 'numeric', timeZone: 'UTC' });

const formatInteger = (value) => integerFormat.format(value);
const formatScore = (value) => (typeof value === 'number' ? decimalFormat.format(value) : '—');
function formatPoints(value) {
  const rounded = Math.round(value * 100) / 100;
  return (rounded > 0 ? '+' : rounded < 0 ? '−' : '') + decimalFormat.format(Math.abs(rounded));
}
function formatTime(value, zone = ' UTC') {
  const date = new Date(value);
  if (!value || Number.isNaN(date.getTime())) return value ? String(value) : '—';
  return date.toISOString().slice(0, 16).replace('T', ' ') + zone;
}
const formatLimit = (value) => (value < 0 ? `−${-value}` : String(value));
// In tables the column header says UTC.
const timeCell = (value) => el('time', { datetime: value || null }, formatTime(value, ''));

// ---------------------------------------------------------------- grades

function gradePalette(grades) {
  const colours = new Map();
  grades.forEach((grade, index) => colours.set(grade.name, mixStops(grades.length < 2 ? 0 : index / (grades.length - 1))));
  return colours;
}

function mixStops(position) {
  const scaled = position * (GRADE_STOPS.length - 1);
  const lower = Math.floor(scaled);
  const upper = Math.min(lower + 1, GRADE_STOPS.length - 1);
  const [from, to] = [GRADE_STOPS[lower], GRADE_STOPS[upper]].map((hex) => [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16)));
  const fraction = scaled - lower;
  return '#' + from.map((c, i) => Math.round(c + (to[i] - c) * fraction).toString(16).padStart(2, '0')).join('');
}

const gradeOf = (score, grades) => grades.find((grade) => score >= grade.min) || grades[grades.length - 1];
const gradeBadge = (name, palette) => el('span', { class: 'grade', style: { background: palette.get(name) || '#475569' } }, name);

// ---------------------------------------------------------------- API

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

function readKey() {
  try {
    return localStorage.getItem(KEY_STORAGE) || keyInMemory;
  } catch {
    return keyInMemory;
  }
}

function storeKey(key) {
  keyInMemory = key;
  try {
    localStorage.setItem(KEY_STORAGE, key);
  } catch {
    // Storage is off (a private window, say): the key lasts as long as this page.
  }
}

function takeKeyFromUrl() {
  const params = new URLSearchParams(location.search);
  if (!params.has('key')) return;
  if (params.get('key')) storeKey(params.get('key'));
  params.delete('key');
  const query = params.toString();
  history.replaceState(null, '', location.pathname + (query ? '?' + query : '') + location.hash);
}

async function api(path) {
  const key = readKey();
  if (!key) throw new ApiError(401, 'no_key', 'An operator key is needed.');
  let response;
  try {
    response = await fetch(path, { headers: { Authorization: `Bearer ${key}`, Accept: 'application/json' }, cache: 'no-store' });
  } catch {
    throw new ApiError(0, 'unreachable', 'The Standing server cannot be reached.');
  }
  if (response.ok) return response.json();
  let code = `http_${response.status}`;
  let message = `The server answered ${response.status} ${response.statusText}.`;
  try {
    const body = await response.json();
    if (body && body.error) ({ code = code, message = message } = body.error);
  } catch {
    // Not a JSON error body: the status line says enough.
  }
  throw new ApiError(response.status, code, message);
}

function loadModel() {
  if (!modelPromise) modelPromise = api('/v1/model').catch((error) => { modelPromise = null; throw error; });
  return modelPromise;
}

const isAuthError = (error) => error instanceof ApiError && (error.status === 401 || error.status === 403);

// ---------------------------------------------------------------- routing

function route() {
  clearTimeout(pollTimer);
  rerender = null;
  const generation = ++routeGeneration;
  const path = location.hash.replace(/^#/, '') || '/';
  const subjectMatch = path.match(/^\/subject\/(.+)$/);
  const section = subjectMatch ? 'subject' : path === '/model' ? 'model' : path === '/' ? 'overview' : null;
  document.querySelectorAll('[data-nav]').forEach((link) => {
    if (link.dataset.nav === section) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  });
  if (!readKey()) return showKeyForm(null);
  if (section === 'overview') return overviewPage(generation);
  if (section === 'model') return modelPage(generation);
  if (section === 'subject') return subjectPage(generation, decodeSegment(subjectMatch[1]));
  const page = startPage('missing', 'Not found');
  finishPage(page, emptyState('No such page', 'The address does not name a dashboard page.'));
}

function decodeSegment(segment) {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

function startPage(name, title) {
  document.title = `Standing — ${title}`;
  const page = el('div', { class: 'page', 'data-page': name, 'aria-busy': 'true' }, el('p', { class: 'loading' }, 'Loading…'));
  main.replaceChildren(page);
  return page;
}

function finishPage(page, ...content) {
  renderedWidth = main.clientWidth;
  page.replaceChildren(...content.flat());
  page.removeAttribute('aria-busy');
  page.dataset.ready = 'true';
}

function failPage(page, generation, error) {
  if (generation !== routeGeneration) return;
  if (isAuthError(error)) return showKeyForm(error.message);
  if (!(error instanceof ApiError)) throw error;
  page.dataset.state = 'error';
  finishPage(page, emptyState('Something went wrong', error.message));
}

function emptyState(title, message) {
  return el('section', { class: 'card empty-state', role: 'status' }, el('h1', {}, title), el('p', { class: 'muted' }, message),
    el('p', {}, el('a', { href: '#/' }, 'Back to the overview')));
}

function showKeyForm(message) {
  clearTimeout(pollTimer);
  ++routeGeneration;
  document.title = 'Standing — Operator key';
  const input = el('input', { id: 'key-input', name: 'key', type: 'password', autocomplete: 'off', spellcheck: 'false', required: true });
  const form = el('form', { class: 'card key-form', onsubmit: (event) => {
    event.preventDefault();
    if (!input.value.trim()) return;
    storeKey(input.value.trim());
    route();
  } },
  el('h1', {}, 'Operator key'),
  el('p', { class: 'muted' }, 'The dashboard reads the API with an operator key. It is kept in this browser only.'),
  message && el('p', { class: 'notice error', role: 'alert' }, message),
  el('label', { for: 'key-input' }, 'Key'), input,
  el('button', { type: 'submit' }, 'Continue'));
  main.replaceChildren(el('div', { class: 'page', 'data-page': 'key', 'data-ready': 'true' }, form));
  input.focus();
}

// ---------------------------------------------------------------- overview

function overviewPage(generation) {
  const page = startPage('overview', 'Overview');
  const poll = async () => {
    if (!document.hidden) {
      try {
        const overview = await api('/v1/overview');
        if (generation !== routeGeneration) return;
        recordEventRate(overview.sources);
        rerender = () => finishPage(page, renderOverview(overview));
        rerender();
      } catch (error) {
        if (generation !== routeGeneration) return;
        if (page.dataset.ready !== 'true' || isAuthError(error) || !(error instanceof ApiError)) return failPage(page, generation, error);
        const live = page.querySelector('.live');
        live.classList.add('stale');
        live.textContent = `Update failed: ${error.message} Retrying.`;
      }
    }
    if (generation === routeGeneration) pollTimer = setTimeout(poll, POLL_INTERVAL_MS);
  };
  poll();
}

function recordEventRate(sources) {
  eventRates.push(sources.reduce((sum, source) => sum + source.per_second, 0));
  if (eventRates.length > SPARKLINE_POINTS) eventRates.shift();
}

function renderOverview(overview) {
  const palette = gradePalette(overview.grades);
  const graded = overview.grades.reduce((sum, grade) => sum + grade.count, 0) || 1;
  const share = (count) => `${((count / graded) * 100).toFixed(1)}%`;
  const totalRate = eventRates[eventRates.length - 1] || 0;
  const ranked = (entries) => table([['Subject'], ['Score', 'num'], ['Grade']],
    entries.map((entry) => [subjectLink(entry.subject), formatScore(entry.score), gradeBadge(entry.grade, palette)]));
  const decisionRows = overview.decisions.map((decision) => ({
    label: decision.purpose,
    segments: [{ value: decision.allow, colour: 'var(--good)' }, { value: decision.deny, colour: 'var(--bad)' }],
    valueText: `${formatInteger(decision.allow)} / ${formatInteger(decision.deny)}`,
    title: `${decision.purpose}: ${formatInteger(decision.allow)} allowed, ${formatInteger(decision.deny)} denied`,
  }));
  return [
    el('header', { class: 'page-head' },
      el('div', {}, el('h1', {}, 'Overview'), el('p', { class: 'muted' }, `Model ${overview.model_version}`)),
      el('p', { class: 'live', role: 'status' }, `Live · refreshed every ${POLL_INTERVAL_MS / 1000} s`)),
    el('div', { class: 'figures' },
      figure('Subjects', formatInteger(overview.subjects), null, overview.subjects),
      figure('Events', formatInteger(overview.events), null, overview.events),
      figure('Events per second', rateFormat.format(totalRate), `${overview.sources.length} sources`),
      overview.network && figure('Relations', formatInteger(overview.network.relations), `contacts weigh α = ${overview.network.alpha}`),
      figure('Model', overview.model_version, `as of ${formatTime(overview.as_of)}`, undefined, 'text')),
    el('div', { class: 'grid' },
      el('div', { class: 'wide' }, card('Score distribution', `${overview.histogram.width}-point bins on the scale ${overview.scale.min}–${overview.scale.max}, coloured by grade`,
        histogramChart(overview.histogram, overview.scale, overview.grades, palette))),
      card('Grades', 'Subjects per grade, best first', barChart('Subjects per grade', overview.grades.map((grade) => ({
        label: grade.name, value: grade.count, colour: palette.get(grade.name),
        valueText: `${compactFormat.format(grade.count)} · ${share(grade.count)}`,
        title: `${grade.name} (from ${grade.min}): ${formatInteger(grade.count)} subjects, ${share(grade.count)}`,
      })), 60)),
      card('Events per second', 'By source; the line is the total over the last polls',
        barChart('Events per second by source', overview.sources.map((source) => ({
          label: source.source, value: source.per_second, colour: 'var(--accent)',
          valueText: `${rateFormat.format(source.per_second)}/s`,
          title: `${source.source}: ${rateFormat.format(source.per_second)} events/s, ${formatInteger(source.events)} events in all`,
        })), 120),
        sparkline(eventRates, 'Total events per second over the last polls')),
      card('Decisions by purpose', 'Allowed / denied',
        el('ul', { class: 'legend' }, el('li', {}, el('span', { class: 'swatch good' }), 'Allow'), el('li', {}, el('span', { class: 'swatch bad' }), 'Deny')),
        barChart('Decisions by purpose, allowed and denied', decisionRows, 170)),
      card('Lists', 'Current members', barChart('Members per list', overview.lists.map((list) => ({
        label: list.name, value: list.members, colour: 'var(--slate)', valueText: formatInteger(list.members),
        title: `${list.name}: ${formatInteger(list.members)} members. ${list.description}`,
      })), 150)),
      card('Lowest scores', null, ranked(overview.lowest)),
      card('Highest scores', null, ranked(overview.highest))),
  ];
}

// ---------------------------------------------------------------- subject

async function subjectPage(generation, subject) {
  const page = startPage('subject', subject);
  const path = `/v1/subjects/${encodeURIComponent(subject)}`;
  const [explanation, contacts, history, audit, model] = await Promise.allSettled([
    api(`${path}/explanation`), api(`${path}/contacts`), api(`${path}/history`), api(`${path}/audit?limit=50`), loadModel(),
  ]);
  if (generation !== routeGeneration) return;
  if (explanation.status === 'rejected') {
    if (explanation.reason.status !== 404) return failPage(page, generation, explanation.reason);
    page.dataset.state = 'not-found';
    return finishPage(page, emptyState(`No subject ${subject}`, explanation.reason.message));
  }
  const refused = [contacts, history, audit, model].find((result) => result.status === 'rejected' && isAuthError(result.reason));
  if (refused) return showKeyForm(refused.reason.message);
  rerender = () => finishPage(page, renderSubject(explanation.value, contacts, history, audit, model));
  rerender();
}

// A part of the page whose own request failed shows that request's error in its place.
const settled = (result, render) => (result.status === 'fulfilled' ? render(result.value) : el('p', { class: 'notice error' }, result.reason.message));

function renderSubject(explanation, contacts, history, audit, model) {
  const score = explanation.score;
  const grades = model.status === 'fulfilled' ? model.value.grades : [{ name: score.grade, min: -Infinity }];
  const palette = gradePalette(grades);
  const base = model.status === 'fulfilled' ? model.value.scale.base
    : score.behaviour - explanation.dimensions.reduce((sum, dimension) => sum + dimension.points, 0);
  const entries = audit.status === 'fulfilled' ? audit.value.entries : [];
  const decisions = entries.filter((entry) => entry.action === 'decision');
  return [
    el('header', { class: 'page-head subject-head' },
      el('div', {}, el('p', { class: 'eyebrow' }, 'Subject'), el('h1', { class: 'subject-id' }, score.subject),
        el('p', { class: 'muted' }, `Model ${score.model_version} · as of ${formatTime(score.as_of)}`,
          score.known_at ? ` · as known at ${formatTime(score.known_at)}` : '')),
      el('div', { class: 'score-block' },
        el('span', { class: 'score-value' }, formatScore(score.score)), gradeBadge(score.grade, palette),
        el('p', { class: 'muted' }, `own data ${formatScore(score.behaviour)} · contacts ${formatPoints(score.network)}`)),
      model.status === 'fulfilled' && scaleStrip(model.value.scale, grades, palette, score.score, chartWidth(true) + 42)),
    el('div', { class: 'grid' },
      card('Score over time', 'Monthly, from the subject’s own data', settled(history, (value) => timelineChart(value, grades, palette))),
      card('How the score is made', `From the base of ${formatInteger(base)} points, dimension by dimension`,
        waterfallChart(waterfallRows(explanation, base))),
      card('Key factors', 'Reason codes, largest effect first', keyFactors(explanation.key_factors)),
      el('div', { class: 'stack' },
        card('Lists', 'Memberships', table([['List'], ['Since (UTC)'], ['Until (UTC)'], ['Source']],
          explanation.lists.map((entry) => [entry.list, timeCell(entry.since), timeCell(entry.until), entry.source]), null, 'On no list.')),
        card('Recent decisions', 'Decisions made about this subject', settled(audit, () => table([['When (UTC)'], ['Purpose'], ['Answer']],
          decisions.map((entry) => [timeCell(entry.at), entry.purpose || '—', entry.answer || '—']), null, 'No decisions yet.')))),
      el('div', { class: 'wide' }, card('Contacts', networkSummary(explanation.network),
        settled(contacts, (value) => networkPanel(score, value, grades, palette)))),
      el('div', { class: 'wide' }, card('Contributions', 'Events behind each dimension, with their points today',
        explanation.dimensions.map((dimension) => dimensionContributions(dimension)))),
      el('div', { class: 'wide' }, card('Who queried', 'The latest 50 reads of this subject', settled(audit, () => table(
        [['When (UTC)'], ['Key'], ['Role'], ['Purpose'], ['Action']],
        entries.map((entry) => [timeCell(entry.at), el('code', {}, entry.key), entry.role, entry.purpose || '—', entry.action]), null, 'Nobody yet.'))))),
  ];
}

function networkSummary(network) {
  if (!network) return 'This model has no network part';
  return `${formatInteger(network.contact_count)} contacts move the score by ${formatPoints(network.points)} points (α = ${network.alpha})`;
}

function waterfallRows(explanation, base) {
  const score = explanation.score;
  const rows = [{ label: 'base', total: base, title: `Base score: ${formatScore(base)}` }];
  let running = base;
  for (const dimension of explanation.dimensions) {
    rows.push({ label: dimension.name, delta: dimension.points, title: `${dimension.name}: ${formatPoints(dimension.points)} points (raw ${formatPoints(dimension.raw)}, limits ${formatLimit(dimension.lower)} to ${formatLimit(dimension.upper)})` });
    running += dimension.points;
  }
  // The sum is clamped to the scale; show the clamp rather than a waterfall that does not add up.
  if (Math.abs(score.behaviour - running) >= 0.005) {
    rows.push({ label: 'scale limit', delta: score.behaviour - running, title: `Held within the scale: ${formatPoints(score.behaviour - running)} points` });
  }
  rows.push({ label: 'contacts', delta: score.network, title: `Contacts’ part: ${formatPoints(score.network)} points` });
  rows.push({ label: 'score', total: score.score, title: `Served score: ${formatScore(score.score)} (${score.grade})` });
  return rows;
}

function keyFactors(factors) {
  if (!factors.length) return el('p', { class: 'empty' }, 'No factors: the score is the base score.');
  const largest = Math.max(...factors.map((factor) => Math.abs(factor.points))) || 1;
  return el('ol', { class: 'factors' }, factors.map((factor) => el('li', {},
    el('div', { class: 'factor-line' }, el('code', {}, factor.code),
      el('span', { class: `points ${factor.points < 0 ? 'down' : 'up'}` }, formatPoints(factor.points))),
    el('div', { class: 'factor-bar' }, el('span', { class: factor.points < 0 ? 'down' : 'up', style: { width: `${(Math.abs(factor.points) / largest) * 100}%` } })),
    el('p', { class: 'muted' }, factor.description, factor.events ? ` · ${factor.events} ${factor.events === 1 ? 'event' : 'events'}` : ''))));
}

function dimensionContributions(dimension) {
  return el('section', { class: 'dimension' },
    el('h3', {}, dimension.name, ' ', el('span', { class: `points ${dimension.points < 0 ? 'down' : dimension.points > 0 ? 'up' : ''}` }, formatPoints(dimension.points)),
      el('span', { class: 'muted' }, Math.abs(dimension.raw - dimension.points) >= 0.005 ? `held within ${formatLimit(dimension.lower)} to ${formatLimit(dimension.upper)} from ${formatPoints(dimension.raw)}`
        : `within ${formatLimit(dimension.lower)} to ${formatLimit(dimension.upper)}`)),
    table([['Reason'], ['Code'], ['Occurred (UTC)'], ['Awarded', 'num'], ['Now', 'num']], dimension.contributions.map((contribution) => [
      contribution.reason, el('code', {}, contribution.reason_code), timeCell(contribution.occurred_at),
      formatPoints(contribution.awarded), formatPoints(contribution.current)]), 'contributions', 'No events.'));
}

function networkPanel(score, answer, grades, palette) {
  if (!answer.contacts.length) return el('p', { class: 'empty' }, 'No contacts.');
  const gradeName = (contact) => contact.grade || gradeOf(contact.score, grades).name;
  const shown = answer.contact_count > answer.contacts.length ? `Showing the ${answer.contacts.length} of ${formatInteger(answer.contact_count)} contacts that move the score most.` : null;
  return el('div', { class: 'network-panel' },
    el('div', {}, networkChart(score, answer.contacts, palette, gradeName),
      el('p', { class: 'muted small' }, 'Colour: the contact’s grade. Line width: relation weight. Circle size: share of the score. Select a contact to open it.')),
    el('div', {}, shown && el('p', { class: 'muted small' }, shown),
      el('div', { class: 'scroll' }, table([['Contact'], ['Kind'], ['Weight', 'num'], ['Score', 'num'], ['Grade'], ['Share', 'num']],
        answer.contacts.map((contact) => [subjectLink(contact.subject), contact.kind, String(contact.weight), formatScore(contact.score),
          gradeBadge(gradeName(contact), palette), formatPoints(contact.share)])))));
}

// ---------------------------------------------------------------- model

async function modelPage(generation) {
  const page = startPage('model', 'Model');
  try {
    const model = await loadModel();
    if (generation !== routeGeneration) return;
    rerender = () => finishPage(page, renderModel(model));
    rerender();
  } catch (error) {
    failPage(page, generation, error);
  }
}

function renderModel(model) {
  const palette = gradePalette(model.grades);
  const readable = ['score', 'grade', ...model.dimensions.map((d) => `dimension.${d.name}`), ...model.lists.map((l) => `list.${l.name}`)];
  model.purposes.forEach((purpose) => purpose.reads.forEach((item) => readable.includes(item) || readable.push(item)));
  const upperBound = (index) => (index === 0 ? model.scale.max : model.grades[index - 1].min);
  const limits = (rule) => [rule.min_total !== null && rule.min_total !== undefined ? `≥ ${rule.min_total}` : null,
    rule.max_total !== null && rule.max_total !== undefined ? `≤ ${rule.max_total}` : null].filter(Boolean).join(', ') || '—';
  return [
    el('header', { class: 'page-head' }, el('div', {}, el('p', { class: 'eyebrow' }, 'Model'),
      el('h1', {}, `${model.name} `, el('span', { class: 'version' }, model.version)), el('p', { class: 'muted' }, model.description))),
    el('div', { class: 'figures' }, figure('Base', formatInteger(model.scale.base)), figure('Scale', `${model.scale.min}–${model.scale.max}`),
      figure('Dimensions', String(model.dimensions.length)), figure('Purposes', String(model.purposes.length)),
      model.network && figure('Contacts weigh', `α = ${model.network.alpha}`)),
    el('div', { class: 'grid' },
      el('div', { class: 'wide' }, card('Grades', 'Bands on the scale, best first', scaleStrip(model.scale, model.grades, palette, null, chartWidth(true)),
        table([['Grade'], ['From', 'num'], ['Below', 'num']], model.grades.map((grade, index) => [gradeBadge(grade.name, palette),
          formatInteger(grade.min), index === 0 ? `${formatInteger(model.scale.max)} (max)` : formatInteger(upperBound(index))])))),
      el('div', { class: 'wide' }, card('Purposes', 'What each purpose may read, and when it denies',
        table([['Purpose'], ...readable.map((item) => [readableHeader(item), 'check'])], model.purposes.map((purpose) => [
          el('span', { class: 'purpose-name' }, purpose.name), ...readable.map((item) => (purpose.reads.includes(item)
            ? el('span', { title: `${purpose.name} reads ${item}` }, el('span', { 'aria-hidden': 'true' }, '●'), el('span', { class: 'visually-hidden' }, 'reads'))
            : el('span', { class: 'visually-hidden' }, 'no')))]), 'matrix'),
        model.purposes.map((purpose) => el('section', { class: 'purpose' },
          el('h3', {}, purpose.name, purpose.rank_by_score && el('span', { class: 'tag' }, 'ranks by score')),
          el('p', { class: 'muted' }, purpose.description),
          purpose.deny.length ? el('ul', { class: 'deny' }, purpose.deny.map((rule) => el('li', {}, el('code', {}, rule.code), ' ', rule.reason)))
            : el('p', { class: 'empty' }, 'Never denies.'))))),
      model.dimensions.map((dimension) => el('div', { class: 'wide' }, card(dimension.name, `${dimension.description} Points from ${formatLimit(dimension.lower)} to ${formatLimit(dimension.upper)}.`,
        table([['Rule'], ['On'], ['Description'], ['Half-life'], ['Expires after'], ['Totals']], dimension.rules.map((rule) => [
          el('code', {}, rule.code), el('code', {}, rule.on), rule.description, rule.half_life || '—', rule.expires_after || '—', limits(rule)]))))),
      card('Lists', 'Kept from events', table([['List'], ['Description'], ['Longest stay']],
        model.lists.map((list) => [list.name, list.description, list.max_duration || '—']))),
      card('Network', model.network ? `Relation kinds; contacts weigh α = ${model.network.alpha}` : 'This model has no network part',
        model.network && table([['Kind'], ['Weight', 'num'], ['Mutual']],
          model.network.kinds.map((kind) => [kind.name, String(kind.weight), kind.mutual ? 'yes' : 'no (one way)']))),
      el('div', { class: 'wide' }, card('Event types', 'What sources may send', table([['Event type'], ['Category'], ['Description'], ['Fields']],
        model.event_types.map((type) => [el('code', {}, type.name), type.category, type.description,
          type.fields.map((field) => `${field.name}: ${Array.isArray(field.type) ? field.type.join(' | ') : field.type}`).join(', ')])))),
      card('Versions', 'Uploaded model versions', table([['Version'], ['Uploaded (UTC)'], ['']],
        model.versions.map((version) => [version.version, timeCell(version.uploaded_at), version.active ? el('span', { class: 'tag' }, 'active') : ''])))),
  ];
}

function readableHeader(item) {
  const dot = item.indexOf('.');
  return dot < 0 ? item : [el('span', { class: 'muted small' }, item.slice(0, dot)), el('br'), item.slice(dot + 1)];
}

// ---------------------------------------------------------------- charts

// Charts are drawn at the width they are shown at, so their text is the page's size. The
// columns mirror style.css: two in .grid from 936 px of content, 42 px of card padding and border.
function chartWidth(wide) {
  const style = getComputedStyle(main);
  const content = main.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
  const columns = !wide && content >= 936 ? 2 : 1;
  return Math.max(260, Math.floor((content - 16 * (columns - 1)) / columns) - 42);
}

function chart(className, width, height, label, role) {
  return svg('svg', { class: `chart ${className}`, viewBox: `0 0 ${width} ${height}`, role: role || 'img', 'aria-label': label }, svg('title', {}, label));
}

function niceTicks(min, max, count) {
  const raw = (max - min || 1) / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((multiple) => multiple * power).find((candidate) => candidate >= raw);
  const ticks = [];
  for (let value = Math.ceil(min / step) * step; value <= max + step * 1e-9; value += step) ticks.push(Math.round(value * 1e6) / 1e6);
  return ticks;
}

// Rows of labels that would overlap are moved to a second line.
function labelRows(items) {
  const rowEnds = [-Infinity, -Infinity];
  return items.map((item) => {
    const row = rowEnds.findIndex((end) => end < item.x - item.width / 2 - 4);
    if (row < 0) return -1;
    rowEnds[row] = item.x + item.width / 2;
    return row;
  });
}

function gradeBands(root, grades, palette, low, high, x, top) {
  const bands = grades.map((grade, index) => ({ grade, from: Math.max(low, grade.min), to: Math.min(high, index === 0 ? high : grades[index - 1].min) }))
    .filter((band) => band.to > band.from).reverse();
  const rows = labelRows(bands.map((band) => ({ x: (x(band.from) + x(band.to)) / 2, width: band.grade.name.length * 7.5 })));
  bands.forEach((band, index) => {
    const centre = (x(band.from) + x(band.to)) / 2;
    root.append(svg('g', { class: 'band' }, svg('title', {}, `${band.grade.name}: from ${band.grade.min}`),
      svg('rect', { x: round(x(band.from)), y: top, width: round(x(band.to) - x(band.from)), height: 8, fill: palette.get(band.grade.name) }),
      rows[index] >= 0 && text(centre, top + 22 + rows[index] * 13, band.grade.name, { class: 'band-label', 'text-anchor': 'middle' })));
  });
}

function histogramChart(histogram, scale, grades, palette) {
  const width = chartWidth(true), left = 52, right = 14, top = 12, plotHeight = 170, height = top + plotHeight + 64;
  const counts = histogram.counts;
  const low = Math.min(scale.min, histogram.lower);
  const high = Math.max(scale.max, histogram.lower + counts.length * histogram.width);
  const x = (value) => left + ((value - low) / (high - low)) * (width - left - right);
  const yTicks = niceTicks(0, Math.max(1, ...counts), 4);
  const yMax = Math.max(1, ...counts, yTicks[yTicks.length - 1]);
  const y = (count) => top + plotHeight - (count / yMax) * plotHeight;
  const total = counts.reduce((sum, count) => sum + count, 0);
  const root = chart('histogram', width, height, `Score distribution of ${formatInteger(total)} subjects in ${histogram.width}-point bins`);
  for (const tick of yTicks) {
    root.append(svg('line', { class: 'grid-line', x1: left, x2: width - right, y1: round(y(tick)), y2: round(y(tick)) }),
      text(left - 8, y(tick) + 4, compactFormat.format(tick), { class: 'tick', 'text-anchor': 'end' }));
  }
  counts.forEach((count, index) => {
    if (!count) return;
    const from = histogram.lower + index * histogram.width;
    const grade = gradeOf(from, grades);
    root.append(svg('rect', { x: round(x(from)), y: round(y(count)), width: round(Math.max(0.6, x(from + histogram.width) - x(from) - 0.6)),
      height: round(top + plotHeight - y(count)), fill: palette.get(grade.name) },
    svg('title', {}, `${from} to ${from + histogram.width}: ${formatInteger(count)} subjects (${grade.name})`)));
  });
  root.append(svg('line', { class: 'axis', x1: left, x2: width - right, y1: top + plotHeight, y2: top + plotHeight }));
  if (scale.base > low && scale.base < high) {
    root.append(svg('line', { class: 'marker', x1: round(x(scale.base)), x2: round(x(scale.base)), y1: top, y2: top + plotHeight }),
      text(x(scale.base) + 4, top + 10, `base ${scale.base}`, { class: 'tick' }));
  }
  for (const tick of niceTicks(low, high, Math.max(3, Math.floor(width / 110)))) root.append(text(x(tick), top + plotHeight + 15, formatInteger(tick), { class: 'tick', 'text-anchor': 'middle' }));
  gradeBands(root, grades, palette, low, high, x, top + plotHeight + 24);
  return root;
}

function scaleStrip(scale, grades, palette, marker, width) {
  const left = 14, right = 14, top = marker === null ? 8 : 24, height = top + 44;
  const x = (value) => left + ((value - scale.min) / (scale.max - scale.min)) * (width - left - right);
  const label = marker === null ? `Grade bands on the scale ${scale.min} to ${scale.max}` : `Score ${formatScore(marker)} on the scale ${scale.min} to ${scale.max}`;
  const root = chart('strip', width, height, label);
  gradeBands(root, grades, palette, scale.min, scale.max, x, top);
  root.append(text(left, top + 22, String(scale.min), { class: 'tick' }), text(width - right, top + 22, String(scale.max), { class: 'tick', 'text-anchor': 'end' }));
  if (marker !== null) {
    const at = x(Math.min(scale.max, Math.max(scale.min, marker)));
    root.append(svg('path', { class: 'pointer', d: `M${round(at - 6)},${top - 12}h12l-6,9z` }),
      text(at, top - 15, formatScore(marker), { class: 'tick strong', 'text-anchor': at < 60 ? 'start' : at > width - 60 ? 'end' : 'middle' }));
  }
  return root;
}

// rows: { label, value | segments: [{ value, colour }], colour, valueText, title }
function barChart(label, rows, labelWidth) {
  if (!rows.length) return el('p', { class: 'empty' }, 'Nothing yet.');
  const width = chartWidth(false), rowHeight = 28, valueWidth = 112;
  labelWidth = Math.min(labelWidth, Math.round(width * 0.36));
  const barSpace = width - labelWidth - valueWidth;
  const totals = rows.map((row) => (row.segments ? row.segments.reduce((sum, segment) => sum + segment.value, 0) : row.value));
  const max = Math.max(...totals) || 1;
  const root = chart('bars', width, rows.length * rowHeight + 4, label);
  rows.forEach((row, index) => {
    const y = index * rowHeight + 4;
    const group = svg('g', {}, svg('title', {}, row.title),
      text(labelWidth - 10, y + 15, truncate(row.label, Math.floor(labelWidth / 7.2)), { class: 'label', 'text-anchor': 'end' }),
      svg('rect', { class: 'track', x: labelWidth, y: y + 4, width: barSpace, height: 15, rx: 3 }),
      text(labelWidth + barSpace + 8, y + 15, row.valueText, { class: 'value' }));
    let offset = labelWidth;
    for (const segment of row.segments || [{ value: row.value, colour: row.colour }]) {
      const length = (segment.value / max) * barSpace;
      if (length > 0) group.append(svg('rect', { x: round(offset), y: y + 4, width: round(Math.max(1.5, length)), height: 15, fill: segment.colour }));
      offset += length;
    }
    root.append(group);
  });
  return root;
}

function sparkline(values, label) {
  const width = chartWidth(false), height = 56, left = 4, right = 96;
  const root = chart('sparkline', width, height, label);
  if (values.length < 2) {
    root.append(text(left, height / 2 + 4, 'Collecting the total over the next polls…', { class: 'tick' }));
    return root;
  }
  const low = Math.min(...values), high = Math.max(...values), span = high - low || 1;
  const x = (index) => left + ((SPARKLINE_POINTS - values.length + index) / (SPARKLINE_POINTS - 1)) * (width - left - right);
  const y = (value) => (high === low ? height / 2 : 6 + ((high - value) / span) * (height - 12));
  const points = values.map((value, index) => `${round(x(index))},${round(y(value))}`);
  const last = values.length - 1;
  root.append(svg('line', { class: 'grid-line', x1: left, x2: width - right, y1: height - 0.5, y2: height - 0.5 }),
    text(left, 12, `Total, last ${values.length} polls`, { class: 'tick' }),
    svg('path', { class: 'spark-area', d: `M${round(x(0))},${height}L${points.join('L')}L${round(x(last))},${height}Z` }),
    svg('path', { class: 'spark-line', d: `M${points.join('L')}` }),
    svg('circle', { class: 'spark-dot', cx: round(x(last)), cy: round(y(values[last])), r: 3 }),
    text(x(last) + 8, y(values[last]) + 4, `${rateFormat.format(values[last])}/s`, { class: 'value' }));
  return root;
}

function timelineChart(history, grades, palette) {
  const points = history.points.map((point) => ({ at: Date.parse(point.at), value: point.behaviour, label: point.at }));
  const current = history.current;
  if (current) points.push({ at: Date.parse(current.at), value: current.behaviour, label: current.at });
  if (!points.length) return el('p', { class: 'empty' }, 'No history yet.');
  const width = chartWidth(false), height = 250, left = 50, right = 78, top = 14, plotHeight = 200;
  const values = points.map((point) => point.value).concat(current ? [current.score] : []);
  const padding = Math.max(8, (Math.max(...values) - Math.min(...values)) * 0.12);
  const low = Math.min(...values) - padding, high = Math.max(...values) + padding;
  const first = points[0].at, lastAt = points[points.length - 1].at;
  const x = (at) => left + (lastAt === first ? 0.5 : (at - first) / (lastAt - first)) * (width - left - right);
  const y = (value) => top + ((high - value) / (high - low)) * plotHeight;
  const root = chart('timeline', width, height, `Own-data score of ${history.subject} over time`);
  for (const tick of niceTicks(low, high, 4)) {
    root.append(svg('line', { class: 'grid-line', x1: left, x2: width - right, y1: round(y(tick)), y2: round(y(tick)) }),
      text(left - 8, y(tick) + 4, formatInteger(tick), { class: 'tick', 'text-anchor': 'end' }));
  }
  for (const grade of grades) {
    if (grade.min <= low || grade.min >= high) continue;
    root.append(svg('line', { class: 'threshold', x1: left, x2: width - right, y1: round(y(grade.min)), y2: round(y(grade.min)), stroke: palette.get(grade.name) }),
      text(width - right + 6, y(grade.min) + 4, `${grade.name} ≥ ${grade.min}`, { class: 'tick', fill: palette.get(grade.name) }));
  }
  const step = Math.max(1, Math.ceil(points.length / 6));
  points.forEach((point, index) => {
    if (index % step === 0 && index < points.length - step / 2) {
      root.append(text(x(point.at), top + plotHeight + 20, monthFormat.format(point.at), { class: 'tick', 'text-anchor': 'middle' }));
    }
  });
  root.append(svg('path', { class: 'line', d: 'M' + points.map((point) => `${round(x(point.at))},${round(y(point.value))}`).join('L') }));
  points.forEach((point) => root.append(svg('circle', { class: 'point', cx: round(x(point.at)), cy: round(y(point.value)), r: 2.5 },
    svg('title', {}, `${formatTime(point.label)}: ${formatScore(point.value)} from own data`))));
  if (current) {
    const colour = palette.get(gradeOf(current.score, grades).name);
    root.append(svg('circle', { class: 'current', cx: round(x(lastAt)), cy: round(y(current.score)), r: 6, fill: colour },
      svg('title', {}, `Served now (${formatTime(current.at)}): ${formatScore(current.score)}, with contacts`)),
    text(x(lastAt) + 10, y(current.score) + 4, formatScore(current.score), { class: 'tick strong' }));
  }
  return el('figure', { class: 'chart-figure' }, root, el('figcaption', {}, el('ul', { class: 'legend' },
    el('li', {}, el('span', { class: 'swatch line' }), 'Own-data score (without contacts)'),
    current && el('li', {}, el('span', { class: 'swatch dot', style: { '--dot': palette.get(gradeOf(current.score, grades).name) } }),
      `Served score now, with contacts: ${formatScore(current.score)}`))));
}

function waterfallChart(rows) {
  const width = chartWidth(false), left = 96, right = 76, top = 8, rowHeight = 30;
  const height = top + rows.length * rowHeight + 22;
  let running = 0;
  const bars = rows.map((row) => {
    const from = row.total === undefined ? running : null;
    running = row.total === undefined ? running + row.delta : row.total;
    return { ...row, from, to: running };
  });
  const ends = bars.flatMap((bar) => (bar.from === null ? [bar.to] : [bar.from, bar.to]));
  const padding = Math.max(5, (Math.max(...ends) - Math.min(...ends)) * 0.1);
  const low = Math.min(...ends) - padding, high = Math.max(...ends) + padding;
  const x = (value) => left + ((value - low) / (high - low)) * (width - left - right);
  const root = chart('waterfall', width, height, 'Score built from the base through each dimension and the contacts to the served score');
  for (const tick of niceTicks(low, high, 5)) {
    root.append(svg('line', { class: 'grid-line', x1: round(x(tick)), x2: round(x(tick)), y1: top, y2: height - 20 }),
      text(x(tick), height - 6, formatInteger(tick), { class: 'tick', 'text-anchor': 'middle' }));
  }
  bars.forEach((bar, index) => {
    const y = top + index * rowHeight;
    const start = bar.from === null ? low : bar.from;
    const kind = bar.from === null ? 'total' : bar.to > bar.from + 0.004 ? 'up' : bar.to < bar.from - 0.004 ? 'down' : 'flat';
    const x1 = Math.min(x(start), x(bar.to)), span = Math.abs(x(bar.to) - x(start));
    root.append(svg('g', { class: `wf-row wf-${kind}${bar.from === null ? '' : ' wf-step'}`, 'data-step': bar.label }, svg('title', {}, bar.title),
      text(left - 10, y + 19, truncate(bar.label, 13), { class: 'label', 'text-anchor': 'end' }),
      svg('rect', { x: round(x1 - (span < 2 ? 1 : 0)), y: y + 6, width: round(Math.max(2, span)), height: 18, rx: 2 }),
      text(width - right + 8, y + 19, bar.from === null ? formatScore(bar.to) : formatPoints(bar.to - bar.from), { class: 'value' })));
    if (index < bars.length - 1) {
      root.append(svg('line', { class: 'connector', x1: round(x(bar.to)), x2: round(x(bar.to)), y1: y + 24, y2: y + rowHeight + 6 }));
    }
  });
  return root;
}

function networkChart(score, contacts, palette, gradeName) {
  const width = 560, height = 440, centreX = width / 2, centreY = height / 2;
  const count = contacts.length;
  const largestShare = Math.max(...contacts.map((contact) => Math.abs(contact.share))) || 1;
  const heaviest = Math.max(...contacts.map((contact) => contact.weight)) || 1;
  const root = chart('network', width, height, `${score.subject} and ${count} contacts`, 'group');
  const edges = svg('g', { class: 'edges' });
  const nodes = svg('g', { class: 'nodes' });
  contacts.forEach((contact, index) => {
    const angle = -Math.PI / 2 + (index * 2 * Math.PI) / count;
    const radius = count > 24 && index % 2 ? 125 : 170;
    const cx = centreX + radius * Math.cos(angle), cy = centreY + radius * Math.sin(angle);
    const grade = gradeName(contact);
    const nodeRadius = 5 + 8 * (Math.abs(contact.share) / largestShare);
    const description = `${contact.subject} · ${contact.kind} · weight ${contact.weight} · score ${formatScore(contact.score)} (${grade}) · share ${formatPoints(contact.share)}`;
    edges.append(svg('line', { x1: centreX, y1: centreY, x2: round(cx), y2: round(cy), 'stroke-width': round(0.8 + 3.2 * (contact.weight / heaviest)) }));
    const cos = Math.cos(angle);
    const anchor = cos > 0.25 ? 'start' : cos < -0.25 ? 'end' : 'middle';
    const labelRadius = radius + nodeRadius + 6;
    nodes.append(svg('a', { href: subjectHref(contact.subject), class: 'contact-node', 'aria-label': description },
      svg('title', {}, description), svg('circle', { cx: round(cx), cy: round(cy), r: round(nodeRadius), fill: palette.get(grade) || '#475569' }),
      count <= 16 && text(centreX + labelRadius * cos, centreY + labelRadius * Math.sin(angle) + 4, truncate(contact.subject, 14), { class: 'node-label', 'text-anchor': anchor })));
  });
  root.append(edges, nodes, svg('g', { class: 'centre-node' },
    svg('title', {}, `${score.subject}: ${formatScore(score.score)} (${score.grade})`),
    svg('circle', { cx: centreX, cy: centreY, r: 26, fill: palette.get(score.grade) || '#475569' }),
    text(centreX, centreY + 5, truncate(score.subject, 8), { class: 'centre-label', 'text-anchor': 'middle' })));
  return root;
}

// ---------------------------------------------------------------- start

document.querySelector('.search').addEventListener('submit', (event) => {
  event.preventDefault();
  const input = event.currentTarget.elements.subject;
  const subject = input.value.trim();
  if (!subject) return input.focus();
  const target = subjectHref(subject);
  if (location.hash === target) route();
  else location.hash = target;
});
window.addEventListener('hashchange', route);
let resizeTimer = 0;
window.addEventListener('resize', () => {
  clearTimeout(resizeTimer);
  resizeTimer = setTimeout(() => rerender && main.clientWidth !== renderedWidth && rerender(), 150);
});
takeKeyFromUrl();
route();
