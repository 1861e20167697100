// Standing's operator dashboard: hash routes over the HTTP API, every chart drawn as inline SVG.
// Strings from the API reach the page only as text nodes or attribute values, never as markup.
'use strict';

const KEY_STORAGE = 'standing-key';
const POLL_INTERVAL_MS = 2000;
const SPARKLINE_POINTS = 60;
// Best grade to worst; a model's grades are spread over these stops (each keeps white text legible).
const GRADE_STOPS = ['#065f46', '#15803d', '#4d7c0f', '#a16207', '#c2410c', '#b91c1c'];

const main = document.getElementById('main');
let routeGeneration = 0; // bumped on every navigation, so answers for a page already left are dropped
let pollTimer = 0;
let rerender = null; // draws the current page again from its data, for a new width
let renderedWidth = 0;
let modelPromise = null;
let keyInMemory = null; // for when localStorage is unavailable
const eventRates = []; // total events/s at each overview poll, for the sparkline

// ---------------------------------------------------------------- DOM

const el = (tag, attributes, ...children) => build(document.createElement(tag), attributes, children);
const svg = (tag, attributes, ...children) => build(document.createElementNS('http://www.w3.org/2000/svg', tag), attributes, children);

function build(node, attributes, children) {
  for (const [name, value] of Object.entries(attributes || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name === 'style') Object.entries(value).forEach(([property, v]) => node.style.setProperty(property, v));
    else if (name.startsWith('on')) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, typeof value === 'number' ? Math.round(value * 10) / 10 : value === true ? '' : value);
  }
  appendAll(node, children);
  return node;
}

function appendAll(node, children) {
  for (const child of children) {
    if (Array.isArray(child)) appendAll(node, child);
    else if (child !== null && child !== undefined && child !== false) node.append(child); // a string becomes a text node
  }
}

const text = (x, y, content, className) => svg('text', { x, y, class: className || 'tick' }, content);
const tip = (content) => svg('title', {}, content);
const truncate = (value, length) => (value.length > length ? value.slice(0, length - 1) + '…' : value);
const subjectHref = (subject) => '#/subject/' + encodeURIComponent(subject);
const subjectLink = (subject) => el('a', { href: subjectHref(subject), class: 'subject' }, subject);
const wide = (...content) => el('div', { class: 'wide' }, content);
const empty = (message) => el('p', { class: 'empty' }, message);

function card(title, subtitle, ...content) {
  return el('section', { class: 'card' }, el('header', { class: 'card-head' }, el('h2', {}, title), subtitle && el('p', { class: 'muted' }, subtitle)), content);
}

// A column whose name starts with '#' holds numbers (right-aligned); '.' marks a centred check column.
function table(columns, rows, className, emptyMessage) {
  if (!rows.length) return empty(emptyMessage || 'None.');
  const kinds = columns.map((column) => ({ '#': 'num', '.': 'check' })[column[0]] || null);
  return el('div', { class: 'table-wrap' }, el('table', { class: className },
    el('thead', {}, el('tr', {}, columns.map((column, i) => el('th', { scope: 'col', class: kinds[i] }, kinds[i] ? column.slice(1) : column)))),
    el('tbody', {}, rows.map((cells) => el('tr', {}, cells.map((cell, i) => el('td', { class: kinds[i] }, cell)))))));
}

function figure(label, value, detail, attributes) {
  return el('div', { class: 'figure', ...attributes }, el('span', { class: 'figure-label' }, label),
    el('span', { class: 'figure-value' }, value), detail && el('span', { class: 'muted' }, detail));
}

// ---------------------------------------------------------------- formatting

const integerFormat = new Intl.NumberFormat('en-US');
const decimalFormat = new Intl.NumberFormat('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 });
const rateFormat = new Intl.NumberFormat('en-US', { maximumFractionDigits: 1 });
const compactFormat = new Intl.NumberFormat('en-US', { notation: 'compact', maximumFractionDigits: 1 });
const monthFormat = new Intl.DateTimeFormat('en-US', { month: 'short', year: 'numeric', timeZone: 'UTC' });

const formatInteger = (value) => integerFormat.format(value);
const formatScore = (value) => (typeof value === 'number' ? decimalFormat.format(value) : '—');
const formatLimit = (value) => (value < 0 ? `−${-value}` : String(value));
function formatPoints(value) {
  const rounded = Math.round(value * 100) / 100;
  return (rounded > 0 ? '+' : rounded < 0 ? '−' : '') + decimalFormat.format(Math.abs(rounded));
}
function formatTime(value, zone = ' UTC') {
  const date = new Date(value);
  if (!value || Number.isNaN(date.getTime())) return value ? String(value) : '—';
  return date.toISOString().slice(0, 16).replace('T', ' ') + zone;
}
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
  const [from, to] = [lower, Math.min(lower + 1, GRADE_STOPS.length - 1)]
    .map((stop) => [1, 3, 5].map((i) => parseInt(GRADE_STOPS[stop].slice(i, i + 2), 16)));
  return '#' + from.map((c, i) => Math.round(c + (to[i] - c) * (scaled - lower)).toString(16).padStart(2, '0')).join('');
}

const gradeOf = (score, grades) => grades.find((grade) => score >= grade.min) || grades[grades.length - 1];
const gradeBadge = (name, palette) => el('span', { class: 'grade', style: { background: palette.get(name) || '#475569' } }, name);

// ---------------------------------------------------------------- API

class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
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
  if (!key) throw new ApiError(401, 'An operator key is needed.');
  let response;
  try {
    response = await fetch(path, { headers: { Authorization: `Bearer ${key}`, Accept: 'application/json' }, cache: 'no-store' });
  } catch {
    throw new ApiError(0, 'The Standing server cannot be reached.');
  }
  if (response.ok) return response.json();
  let message = `The server answered ${response.status} ${response.statusText}.`;
  try {
    message = (await response.json()).error.message || message;
  } catch {
    // Not the API's error body: the status line says enough.
  }
  throw new ApiError(response.status, message);
}

function loadModel() {
  modelPromise ||= api('/v1/model').catch((error) => {
    modelPromise = null;
    throw error;
  });
  return modelPromise;
}

const isAuthError = (error) => error instanceof ApiError && (error.status === 401 || error.status === 403);

// ---------------------------------------------------------------- routing

function route() {
  clearTimeout(pollTimer);
  rerender = null;
  const generation = ++routeGeneration;
  const path = location.hash.slice(1) || '/';
  const subject = path.match(/^\/subject\/(.+)$/);
  const section = subject ? 'subject' : { '/': 'overview', '/model': 'model' }[path];
  for (const link of document.querySelectorAll('[data-nav]')) {
    if (link.dataset.nav === section) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  if (!readKey()) return showKeyForm(null);
  if (section === 'overview') return overviewPage(generation);
  if (section === 'model') return modelPage(generation);
  if (section === 'subject') return subjectPage(generation, decodeSegment(subject[1]));
  finishPage(startPage('missing', 'Not found'), emptyState('No such page', 'The address names no dashboard page.'));
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

// Shows the page from `render()` now, and again whenever the window's width changes.
function renderPage(page, render) {
  rerender = () => finishPage(page, render());
  rerender();
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
  rerender = null;
  ++routeGeneration;
  document.title = 'Standing — Operator key';
  const input = el('input', { id: 'key-input', type: 'password', autocomplete: 'off', spellcheck: 'false', required: true });
  const submit = (event) => {
    event.preventDefault();
    storeKey(input.value.trim());
    route();
  };
  main.replaceChildren(el('div', { class: 'page', 'data-page': 'key', 'data-ready': 'true' }, el('form', { class: 'card key-form', onsubmit: submit },
    el('h1', {}, 'Operator key'), el('p', { class: 'muted' }, 'The dashboard reads the API with an operator key, kept in this browser only.'),
    message && el('p', { class: 'notice error', role: 'alert' }, message),
    el('label', { for: 'key-input' }, 'Key'), input, el('button', { type: 'submit' }, 'Continue'))));
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
        eventRates.push(overview.sources.reduce((sum, source) => sum + source.per_second, 0));
        if (eventRates.length > SPARKLINE_POINTS) eventRates.shift();
        renderPage(page, () => renderOverview(overview));
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

function renderOverview(overview) {
  const palette = gradePalette(overview.grades);
  const graded = overview.grades.reduce((sum, grade) => sum + grade.count, 0) || 1;
  const share = (count) => `${((count / graded) * 100).toFixed(1)}%`;
  const ranked = (entries) => table(['Subject', '#Score', 'Grade'],
    entries.map((entry) => [subjectLink(entry.subject), formatScore(entry.score), gradeBadge(entry.grade, palette)]));
  return [
    el('header', { class: 'page-head' }, el('div', {}, el('h1', {}, 'Overview'), el('p', { class: 'muted' }, `Model ${overview.model_version}`)),
      el('p', { class: 'live', role: 'status' }, `Live · refreshed every ${POLL_INTERVAL_MS / 1000} s`)),
    el('div', { class: 'figures' },
      figure('Subjects', formatInteger(overview.subjects), null, { 'data-value': overview.subjects }),
      figure('Events', formatInteger(overview.events)),
      figure('Events per second', rateFormat.format(eventRates[eventRates.length - 1]), `from ${overview.sources.length} sources`),
      overview.network && figure('Relations', typeof overview.network.relations === 'number' ? formatInteger(overview.network.relations) : '—',
        `contacts weigh α = ${overview.network.alpha}`),
      figure('Model', overview.model_version, `as of ${formatTime(overview.as_of)}`, { class: 'figure text' })),
    el('div', { class: 'grid' },
      wide(card('Score distribution', `${overview.histogram.width}-point bins over the scale, coloured by grade`,
        histogramChart(overview.histogram, overview.scale, overview.grades, palette))),
      card('Grades', 'Subjects per grade, best first', barChart('Subjects per grade', 60, overview.grades.map((grade) => ({
        label: grade.name, parts: [[grade.count, palette.get(grade.name)]], value: `${compactFormat.format(grade.count)} · ${share(grade.count)}`,
        title: `${grade.name} (from ${grade.min}): ${formatInteger(grade.count)} subjects, ${share(grade.count)}`,
      })))),
      card('Events per second', 'By source, and the total over the last polls',
        barChart('Events per second by source', 120, overview.sources.map((source) => ({
          label: source.source, parts: [[source.per_second, 'var(--accent)']], value: `${rateFormat.format(source.per_second)}/s`,
          title: `${source.source}: ${rateFormat.format(source.per_second)} events/s, ${formatInteger(source.events)} in all`,
        }))),
        sparkline(eventRates)),
      card('Decisions by purpose', 'Allowed and denied',
        overview.decisions.length > 0 && el('ul', { class: 'legend' }, el('li', {}, el('span', { class: 'swatch good' }), 'Allow'),
          el('li', {}, el('span', { class: 'swatch bad' }), 'Deny')),
        barChart('Decisions by purpose', 170, overview.decisions.map((decision) => ({
          label: decision.purpose, parts: [[decision.allow, 'var(--good)'], [decision.deny, 'var(--bad)']],
          value: `${compactFormat.format(decision.allow)} / ${compactFormat.format(decision.deny)}`,
          title: `${decision.purpose}: ${formatInteger(decision.allow)} allowed, ${formatInteger(decision.deny)} denied`,
        })))),
      card('Lists', 'Current members', barChart('Members per list', 150, overview.lists.map((list) => ({
        label: list.name, parts: [[list.members, 'var(--slate)']], value: formatInteger(list.members),
        title: `${list.name}: ${formatInteger(list.members)} members. ${list.description}`,
      })))),
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
  renderPage(page, () => renderSubject(explanation.value, contacts, history, audit, model.value));
}

// A part of the page whose own request failed shows that request's error in its place.
const settled = (result, render) => (result.status === 'fulfilled' ? render(result.value) : el('p', { class: 'notice error' }, result.reason.message));

function renderSubject(explanation, contacts, history, audit, model) {
  const score = explanation.score;
  const grades = model ? model.grades : [{ name: score.grade, min: -Infinity }];
  const palette = gradePalette(grades);
  const base = model ? model.scale.base : score.behaviour - explanation.dimensions.reduce((sum, dimension) => sum + dimension.points, 0);
  const entries = audit.status === 'fulfilled' ? audit.value.entries : [];
  return [
    el('header', { class: 'page-head subject-head' },
      el('div', {}, el('p', { class: 'eyebrow' }, 'Subject'), el('h1', { class: 'subject-id' }, score.subject),
        el('p', { class: 'muted' }, `Model ${score.model_version} · as of ${formatTime(score.as_of)}`,
          score.known_at ? ` · as known at ${formatTime(score.known_at)}` : '')),
      el('div', { class: 'score-block' },
        el('span', { class: 'score-value' }, formatScore(score.score)), gradeBadge(score.grade, palette),
        el('p', { class: 'muted' }, `own data ${formatScore(score.behaviour)} · contacts ${formatPoints(score.network)}`)),
      model && scaleStrip(model.scale, grades, palette, score.score, chartWidth(true) + 42)),
    el('div', { class: 'grid' },
      card('Score over time', 'Monthly, from the subject’s own data', settled(history, (value) => timelineChart(value, grades, palette))),
      card('How the score is made', `From the base of ${formatInteger(base)} points, dimension by dimension`, waterfallChart(waterfallRows(explanation, base))),
      card('Key factors', 'Reason codes, largest effect first', keyFactors(explanation.key_factors)),
      el('div', { class: 'stack' },
        card('Lists', 'Memberships', table(['List', 'Since (UTC)', 'Until (UTC)', 'Source'],
          explanation.lists.map((entry) => [entry.list, timeCell(entry.since), timeCell(entry.until), entry.source]), null, 'On no list.')),
        card('Recent decisions', 'Decisions made about this subject', settled(audit, () => table(['When (UTC)', 'Purpose', 'Answer'],
          entries.filter((entry) => entry.action === 'decision').map((entry) => [timeCell(entry.at), entry.purpose || '—', entry.answer || '—']),
          null, 'No decisions yet.')))),
      wide(card('Contacts', networkSummary(explanation.network), settled(contacts, (value) => networkPanel(score, value, grades, palette)))),
      wide(card('Contributions', 'Events behind each dimension, with their points today', explanation.dimensions.map(dimensionContributions))),
      wide(card('Who queried', 'The latest 50 reads of this subject', settled(audit, () => table(['When (UTC)', 'Key', 'Role', 'Purpose', 'Action'],
        entries.map((entry) => [timeCell(entry.at), el('code', {}, entry.key), entry.role, entry.purpose || '—', entry.action]), null, 'Nobody yet.'))))),
  ];
}

function networkSummary(network) {
  if (!network) return 'This model has no network part';
  if (!network.contact_count) return 'No contacts: the score is the subject’s own';
  return `${formatInteger(network.contact_count)} contacts move the score by ${formatPoints(network.points)} points (α = ${network.alpha})`;
}

function waterfallRows(explanation, base) {
  const score = explanation.score;
  const rows = [{ label: 'base', total: base, title: `Base score ${formatScore(base)}` }];
  let running = base;
  for (const dimension of explanation.dimensions) {
    rows.push({ label: dimension.name, delta: dimension.points, title: `${dimension.name}: ${formatPoints(dimension.points)} points` });
    running += dimension.points;
  }
  // The sum is held within the scale: show that, rather than a waterfall that does not add up.
  if (Math.abs(score.behaviour - running) >= 0.005) {
    rows.push({ label: 'scale limit', delta: score.behaviour - running, title: `Held within the scale: ${formatPoints(score.behaviour - running)} points` });
  }
  rows.push({ label: 'contacts', delta: score.network, title: `Contacts’ part: ${formatPoints(score.network)} points` });
  rows.push({ label: 'score', total: score.score, title: `Served score ${formatScore(score.score)} (${score.grade})` });
  return rows;
}

function keyFactors(factors) {
  if (!factors.length) return empty('None: the score is the base score.');
  const largest = Math.max(...factors.map((factor) => Math.abs(factor.points))) || 1;
  return el('ol', { class: 'factors' }, factors.map((factor) => {
    const direction = factor.points < 0 ? 'down' : 'up';
    return el('li', {}, el('div', { class: 'factor-line' }, el('code', {}, factor.code), el('span', { class: `points ${direction}` }, formatPoints(factor.points))),
      el('div', { class: 'factor-bar' }, el('span', { class: direction, style: { width: `${(Math.abs(factor.points) / largest) * 100}%` } })),
      el('p', { class: 'muted' }, factor.description === factor.code ? '' : factor.description, factor.events ? ` · ${factor.events} event${factor.events === 1 ? '' : 's'}` : ''));
  }));
}

function dimensionContributions(dimension) {
  const limits = `${formatLimit(dimension.lower)} to ${formatLimit(dimension.upper)}`;
  const held = Math.abs(dimension.raw - dimension.points) >= 0.005;
  return el('section', { class: 'dimension' },
    el('h3', {}, dimension.name, el('span', { class: `points ${dimension.points < 0 ? 'down' : dimension.points > 0 ? 'up' : ''}` }, formatPoints(dimension.points)),
      el('span', { class: 'muted' }, held ? `held within ${limits} from ${formatPoints(dimension.raw)}` : `within ${limits}`)),
    table(['Reason', 'Code', 'Occurred (UTC)', '#Awarded', '#Now'], dimension.contributions.map((contribution) => [contribution.reason,
      el('code', {}, contribution.reason_code), timeCell(contribution.occurred_at), formatPoints(contribution.awarded), formatPoints(contribution.current)]),
    'contributions', 'No events.'));
}

function networkPanel(score, answer, grades, palette) {
  if (!answer.contacts.length) return empty('No contacts.');
  const gradeName = (contact) => contact.grade || gradeOf(contact.score, grades).name;
  return el('div', { class: 'network-panel' },
    el('div', {}, networkChart(score, answer.contacts, palette, gradeName),
      el('p', { class: 'muted small' }, 'Colour: the contact’s grade. Line width: relation weight. Circle size: share of the score. Select a contact to open it.')),
    el('div', {}, answer.contact_count > answer.contacts.length
      && el('p', { class: 'muted small' }, `The ${answer.contacts.length} of ${formatInteger(answer.contact_count)} contacts that move the score most.`),
    el('div', { class: 'scroll' }, table(['Contact', 'Kind', '#Weight', '#Score', 'Grade', '#Share'], answer.contacts.map((contact) => [
      subjectLink(contact.subject), contact.kind, String(contact.weight), formatScore(contact.score), gradeBadge(gradeName(contact), palette), formatPoints(contact.share)])))));
}

// ---------------------------------------------------------------- model

async function modelPage(generation) {
  const page = startPage('model', 'Model');
  try {
    const model = await loadModel();
    if (generation === routeGeneration) renderPage(page, () => renderModel(model));
  } catch (error) {
    failPage(page, generation, error);
  }
}

function renderModel(model) {
  const palette = gradePalette(model.grades);
  const readable = ['score', 'grade', ...model.dimensions.map((d) => `dimension.${d.name}`), ...model.lists.map((l) => `list.${l.name}`)];
  model.purposes.forEach((purpose) => purpose.reads.forEach((item) => readable.includes(item) || readable.push(item)));
  const bound = (sign, value) => (value === null || value === undefined ? null : `${sign} ${formatLimit(value)}`);
  return [
    el('header', { class: 'page-head' }, el('div', {}, el('p', { class: 'eyebrow' }, 'Model'),
      el('h1', {}, `${model.name} `, el('span', { class: 'version' }, model.version)), el('p', { class: 'muted' }, model.description,
        ` Everyone starts at ${formatInteger(model.scale.base)} on a scale of ${model.scale.min} to ${model.scale.max}`,
        model.network ? `; contacts weigh α = ${model.network.alpha}.` : '.'))),
    el('div', { class: 'grid' },
      wide(card('Grades', 'Bands on the scale, best first', scaleStrip(model.scale, model.grades, palette, null, chartWidth(true)),
        el('ul', { class: 'grade-list' }, model.grades.map((grade) => el('li', {}, gradeBadge(grade.name, palette), `from ${formatInteger(grade.min)}`))))),
      wide(card('Purposes', 'What each purpose may read, and when it denies',
        table(['Purpose', ...readable.map((item) => `.${item.replace('.', '.\u200b')}`)], model.purposes.map((purpose) => [el('strong', {}, purpose.name),
          ...readable.map((item) => (purpose.reads.includes(item) ? el('span', { role: 'img', 'aria-label': 'reads', title: `${purpose.name} reads ${item}` }, '●') : ''))]), 'matrix'),
        model.purposes.map((purpose) => el('section', { class: 'purpose' },
          el('h3', {}, purpose.name, purpose.rank_by_score && el('span', { class: 'tag' }, 'ranks by score'),
            purpose.review_adverse && el('span', { class: 'tag' }, 'denials reviewed by a person')),
          el('p', { class: 'muted' }, purpose.description),
          purpose.basis && el('p', {}, 'Basis: ', el('strong', {}, ({ law: 'required by law', consent: 'consent (opt-in)', legitimate_interest: 'legitimate interest (subjects may object)' })[purpose.basis] || purpose.basis),
            purpose.legal_basis ? ` — ${purpose.legal_basis}` : ''),
          purpose.deny.length ? el('ul', { class: 'deny' }, purpose.deny.map((rule) => el('li', {}, el('code', {}, rule.code), ' ', rule.reason)))
            : empty('Never denies.'))))),
      wide(card('Dimensions', 'Rules award or deduct points; each dimension is held within its limits', model.dimensions.map((dimension) => el('section', { class: 'dimension' },
        el('h3', {}, dimension.name, el('span', { class: 'muted' }, `${formatLimit(dimension.lower)} to ${formatLimit(dimension.upper)} · ${dimension.description}`)),
        table(['Rule', 'On', 'Description', 'Half-life', 'Expires', 'Totals'], dimension.rules.map((rule) => [el('code', {}, rule.code), el('code', {}, rule.on),
          rule.description || '—', rule.half_life || '—', rule.expires_after || '—', [bound('≥', rule.min_total), bound('≤', rule.max_total)].filter(Boolean).join(', ') || '—']),
        'rules'))))),
      el('div', { class: 'stack' },
        card('Lists', 'Kept from events', table(['List', 'Description', 'Longest stay'], model.lists.map((list) => [list.name, list.description, list.max_duration || '—']))),
        card('Versions', null, table(['Version', 'Uploaded (UTC)', ''], model.versions.map((version) =>
          [version.version, timeCell(version.uploaded_at || version.stored_at), version.active && el('span', { class: 'tag' }, 'active')])))),
      card('Network', model.network ? `Relation kinds; contacts weigh α = ${model.network.alpha}` : 'This model has no network part', model.network
        && table(['Kind', '#Weight', 'Mutual'], model.network.kinds.map((kind) => [kind.name, String(kind.weight), kind.mutual ? 'yes' : 'no, one way']))),
      wide(card('Event types', 'What sources may send', table(['Event type', 'Category', 'Description', 'Fields'], model.event_types.map((type) => [
        el('code', {}, type.name), type.category, type.description, type.fields.map((field) => `${field.name}: ${[field.type].flat().join(' | ')}`).join(', ')]))))),
  ];
}

// ---------------------------------------------------------------- charts

// Charts are drawn at the width they are shown at, so their text is the page's size. The
// columns mirror style.css: two in .grid from 936 px of content; a card's padding and border take 42.
function chartWidth(isWide) {
  const style = getComputedStyle(main);
  const content = main.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
  const columns = !isWide && content >= 936 ? 2 : 1;
  return Math.max(260, Math.floor((content - 16 * (columns - 1)) / columns) - 42);
}

function chart(className, width, height, label, role = 'img') {
  return svg('svg', { class: `chart ${className}`, viewBox: `0 0 ${width} ${height}`, role, 'aria-label': label }, tip(label));
}

function niceTicks(min, max, count) {
  const raw = (max - min || 1) / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((multiple) => multiple * power).find((candidate) => candidate >= raw);
  const ticks = [];
  for (let value = Math.ceil(min / step) * step; value <= max + step * 1e-9; value += step) ticks.push(Math.round(value * 1e6) / 1e6);
  return ticks;
}

const gridLine = (x1, y1, x2, y2) => svg('line', { class: 'grid-line', x1, y1, x2, y2 });

// Grade bands as a strip along an axis; names that would overlap drop to a second line, or go.
function gradeBands(root, grades, palette, low, high, x, top) {
  const rowEnds = [-Infinity, -Infinity];
  grades.map((grade, index) => ({ grade, from: Math.max(low, grade.min), to: Math.min(high, index ? grades[index - 1].min : high) }))
    .filter((band) => band.to > band.from).reverse().forEach(({ grade, from, to }) => {
      const centre = (x(from) + x(to)) / 2, half = grade.name.length * 3.8;
      const row = rowEnds.findIndex((end) => end < centre - half - 4);
      if (row >= 0) rowEnds[row] = centre + half;
      root.append(svg('g', {}, tip(`${grade.name}: from ${grade.min}`),
        svg('rect', { x: x(from), y: top, width: x(to) - x(from), height: 8, fill: palette.get(grade.name) }),
        row >= 0 && text(centre, top + 22 + row * 13, grade.name, 'band-label mid')));
    });
}

function histogramChart(histogram, scale, grades, palette) {
  const width = chartWidth(true), left = 52, right = 14, top = 12, plotHeight = 170, bottom = top + plotHeight;
  const counts = histogram.counts;
  const low = Math.min(scale.min, histogram.lower);
  const high = Math.max(scale.max, histogram.lower + counts.length * histogram.width);
  const x = (value) => left + ((value - low) / (high - low)) * (width - left - right);
  const yTicks = niceTicks(0, Math.max(1, ...counts), 4);
  const yMax = Math.max(1, ...counts, yTicks[yTicks.length - 1]);
  const y = (count) => bottom - (count / yMax) * plotHeight;
  const total = counts.reduce((sum, count) => sum + count, 0);
  const root = chart('histogram', width, bottom + 64, `Scores of ${formatInteger(total)} subjects in ${histogram.width}-point bins`);
  yTicks.forEach((tick) => root.append(gridLine(left, y(tick), width - right, y(tick)), text(left - 8, y(tick) + 4, compactFormat.format(tick), 'tick end')));
  counts.forEach((count, index) => {
    const from = histogram.lower + index * histogram.width;
    const grade = gradeOf(from, grades).name;
    if (count) {
      root.append(svg('rect', { x: x(from), y: y(count), width: Math.max(0.6, x(from + histogram.width) - x(from) - 0.6), height: bottom - y(count), fill: palette.get(grade) },
        tip(`${from} to ${from + histogram.width}: ${formatInteger(count)} subjects (${grade})`)));
    }
  });
  root.append(svg('line', { class: 'axis', x1: left, x2: width - right, y1: bottom, y2: bottom }));
  if (scale.base > low && scale.base < high) {
    root.append(svg('line', { class: 'marker', x1: x(scale.base), x2: x(scale.base), y1: top, y2: bottom }), text(x(scale.base) + 4, top + 10, `base ${scale.base}`));
  }
  niceTicks(low, high, Math.max(3, Math.floor(width / 110))).forEach((tick) => root.append(text(x(tick), bottom + 15, formatInteger(tick), 'tick mid')));
  gradeBands(root, grades, palette, low, high, x, bottom + 24);
  return root;
}

function scaleStrip(scale, grades, palette, marker, width) {
  const top = marker === null ? 8 : 24;
  const x = (value) => 14 + ((value - scale.min) / (scale.max - scale.min)) * (width - 28);
  const root = chart('strip', width, top + 44, marker === null ? `Grade bands from ${scale.min} to ${scale.max}` : `Score ${formatScore(marker)} on the scale ${scale.min} to ${scale.max}`);
  gradeBands(root, grades, palette, scale.min, scale.max, x, top);
  root.append(text(14, top + 22, String(scale.min)), text(width - 14, top + 22, String(scale.max), 'tick end'));
  if (marker !== null) {
    const at = x(Math.min(scale.max, Math.max(scale.min, marker)));
    root.append(svg('path', { class: 'pointer', d: `M${at - 6},${top - 12}h12l-6,9z` }),
      text(at, top - 15, formatScore(marker), `tick strong ${at < 60 ? '' : at > width - 60 ? 'end' : 'mid'}`));
  }
  return root;
}

// rows: { label, parts: [[value, colour]], value (text), title }; parts stack left to right.
function barChart(label, labelWidth, rows) {
  if (!rows.length) return empty('Nothing yet.');
  const width = chartWidth(false), rowHeight = 28;
  labelWidth = Math.min(labelWidth, Math.round(width * 0.36));
  const barSpace = width - labelWidth - 112;
  const max = Math.max(...rows.map((row) => row.parts.reduce((sum, [value]) => sum + value, 0))) || 1;
  const root = chart('bars', width, rows.length * rowHeight + 4, label);
  rows.forEach((row, index) => {
    const y = index * rowHeight + 4;
    const group = svg('g', {}, tip(row.title), text(labelWidth - 10, y + 15, truncate(row.label, Math.floor(labelWidth / 7.8)), 'label end'),
      svg('rect', { class: 'track', x: labelWidth, y: y + 4, width: barSpace, height: 15, rx: 3 }), text(labelWidth + barSpace + 8, y + 15, row.value, 'value'));
    let offset = labelWidth;
    for (const [value, colour] of row.parts) {
      const length = (value / max) * barSpace;
      if (length > 0) group.append(svg('rect', { x: offset, y: y + 4, width: Math.max(1.5, length), height: 15, fill: colour }));
      offset += length;
    }
    root.append(group);
  });
  return root;
}

// The newest value is at the right; older ones move left, one step per poll.
function sparkline(values) {
  const width = chartWidth(false), height = 56, right = 96;
  const root = chart('sparkline', width, height, 'Total events per second over the last polls');
  if (values.length < 2) {
    root.append(text(4, 32, 'The total appears from the next poll on.'));
    return root;
  }
  const low = Math.min(...values), high = Math.max(...values);
  const x = (index) => 4 + ((SPARKLINE_POINTS - values.length + index) / (SPARKLINE_POINTS - 1)) * (width - 4 - right);
  const y = (value) => (high === low ? height / 2 : 6 + ((high - value) / (high - low)) * (height - 12));
  const points = values.map((value, index) => `${x(index).toFixed(1)},${y(value).toFixed(1)}`).join('L');
  const last = values.length - 1;
  root.append(gridLine(4, height - 0.5, width - right, height - 0.5), text(4, 12, `Total, last ${values.length} polls`),
    svg('path', { class: 'spark-area', d: `M${x(0).toFixed(1)},${height}L${points}L${x(last).toFixed(1)},${height}Z` }),
    svg('path', { class: 'spark-line', d: `M${points}` }), svg('circle', { class: 'spark-dot', cx: x(last), cy: y(values[last]), r: 3 }),
    text(x(last) + 8, y(values[last]) + 4, `${rateFormat.format(values[last])}/s`, 'value'));
  return root;
}

function timelineChart(history, grades, palette) {
  const points = history.points.map((point) => ({ at: Date.parse(point.at), value: point.behaviour, label: point.at }));
  const current = history.current;
  if (current) points.push({ at: Date.parse(current.at), value: current.behaviour, label: current.at });
  if (!points.length) return empty('No history yet.');
  const width = chartWidth(false), left = 50, right = 78, top = 14, plotHeight = 200;
  const values = points.map((point) => point.value).concat(current ? [current.score] : []);
  const padding = Math.max(8, (Math.max(...values) - Math.min(...values)) * 0.12);
  const low = Math.min(...values) - padding, high = Math.max(...values) + padding;
  const first = points[0].at, last = points[points.length - 1].at;
  const x = (at) => left + (last === first ? 0.5 : (at - first) / (last - first)) * (width - left - right);
  const y = (value) => top + ((high - value) / (high - low)) * plotHeight;
  const root = chart('timeline', width, 250, `Own-data score of ${history.subject} over time`);
  niceTicks(low, high, 4).forEach((tick) => root.append(gridLine(left, y(tick), width - right, y(tick)), text(left - 8, y(tick) + 4, formatInteger(tick), 'tick end')));
  for (const grade of grades.filter((candidate) => candidate.min > low && candidate.min < high)) {
    root.append(svg('line', { class: 'threshold', x1: left, x2: width - right, y1: y(grade.min), y2: y(grade.min), stroke: palette.get(grade.name) }),
      svg('text', { x: width - right + 6, y: y(grade.min) + 4, class: 'tick', fill: palette.get(grade.name) }, `${grade.name} ≥ ${grade.min}`));
  }
  const step = Math.max(1, Math.ceil(points.length / Math.max(2, Math.floor(width / 100))));
  points.forEach((point, index) => index % step === 0 && index < points.length - step / 2
    && root.append(text(x(point.at), top + plotHeight + 20, monthFormat.format(point.at), 'tick mid')));
  root.append(svg('path', { class: 'line', d: 'M' + points.map((point) => `${x(point.at).toFixed(1)},${y(point.value).toFixed(1)}`).join('L') }));
  points.forEach((point) => root.append(svg('circle', { class: 'point', cx: x(point.at), cy: y(point.value), r: 2.5 },
    tip(`${formatTime(point.label)}: ${formatScore(point.value)} from own data`))));
  const colour = current && palette.get(gradeOf(current.score, grades).name);
  if (current) {
    root.append(svg('circle', { class: 'current', cx: x(last), cy: y(current.score), r: 6, fill: colour }, tip(`Served now: ${formatScore(current.score)}, with contacts`)),
      text(x(last) + 10, y(current.score) + 4, formatScore(current.score), 'tick strong'));
  }
  return el('figure', { class: 'chart-figure' }, root, el('figcaption', {}, el('ul', { class: 'legend' },
    el('li', {}, el('span', { class: 'swatch line' }), 'Own-data score (without contacts)'),
    current && el('li', {}, el('span', { class: 'swatch dot', style: { '--dot': colour } }), `Served score now, with contacts: ${formatScore(current.score)}`))));
}

// rows: { label, total } for a bar from the axis, or { label, delta } for a step from the running sum.
function waterfallChart(rows) {
  const width = chartWidth(false), left = 96, right = 76, top = 8, rowHeight = 30, height = top + rows.length * rowHeight + 22;
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
  const root = chart('waterfall', width, height, 'The score from the base through each dimension and the contacts');
  niceTicks(low, high, Math.max(3, Math.floor(width / 120))).forEach((tick) => root.append(gridLine(x(tick), top, x(tick), height - 20),
    text(x(tick), height - 6, formatInteger(tick), 'tick mid')));
  bars.forEach((bar, index) => {
    const y = top + index * rowHeight, isTotal = bar.from === null;
    const start = isTotal ? low : bar.from, span = Math.abs(x(bar.to) - x(start));
    const kind = isTotal ? 'total' : bar.to > bar.from + 0.004 ? 'up' : bar.to < bar.from - 0.004 ? 'down' : 'flat';
    root.append(svg('g', { class: `wf-row wf-${kind}${isTotal ? '' : ' wf-step'}` }, tip(bar.title), text(left - 10, y + 19, truncate(bar.label, 13), 'label end'),
      svg('rect', { x: Math.min(x(start), x(bar.to)) - (span < 2 ? 1 : 0), y: y + 6, width: Math.max(2, span), height: 18, rx: 2 }),
      text(width - right + 8, y + 19, isTotal ? formatScore(bar.to) : formatPoints(bar.to - bar.from), 'value')));
    if (index < bars.length - 1) root.append(svg('line', { class: 'connector', x1: x(bar.to), x2: x(bar.to), y1: y + 24, y2: y + rowHeight + 6 }));
  });
  return root;
}

function networkChart(score, contacts, palette, gradeName) {
  const width = 560, height = 440, centreX = width / 2, centreY = height / 2, count = contacts.length;
  const largestShare = Math.max(...contacts.map((contact) => Math.abs(contact.share))) || 1;
  const heaviest = Math.max(...contacts.map((contact) => contact.weight)) || 1;
  const root = chart('network', width, height, `${score.subject} and ${count} contacts`, 'group');
  const edges = svg('g', { class: 'edges' }), nodes = svg('g');
  contacts.forEach((contact, index) => {
    const angle = -Math.PI / 2 + (index * 2 * Math.PI) / count, cos = Math.cos(angle), sin = Math.sin(angle);
    const radius = count > 24 && index % 2 ? 125 : 170, nodeRadius = 5 + 8 * (Math.abs(contact.share) / largestShare);
    const grade = gradeName(contact);
    const description = `${contact.subject} · ${contact.kind} · weight ${contact.weight} · score ${formatScore(contact.score)} (${grade}) · share ${formatPoints(contact.share)}`;
    edges.append(svg('line', { x1: centreX, y1: centreY, x2: centreX + radius * cos, y2: centreY + radius * sin, 'stroke-width': 0.8 + 3.2 * (contact.weight / heaviest) }));
    const labelRadius = radius + nodeRadius + 6;
    nodes.append(svg('a', { href: subjectHref(contact.subject), class: 'contact-node', 'aria-label': description }, tip(description),
      svg('circle', { cx: centreX + radius * cos, cy: centreY + radius * sin, r: nodeRadius, fill: palette.get(grade) || '#475569' }),
      count <= 16 && text(centreX + labelRadius * cos, centreY + labelRadius * sin + 4, truncate(contact.subject, 14), `node-label ${cos > 0.25 ? '' : cos < -0.25 ? 'end' : 'mid'}`)));
  });
  root.append(edges, nodes, svg('g', {}, tip(`${score.subject}: ${formatScore(score.score)} (${score.grade})`),
    svg('circle', { cx: centreX, cy: centreY, r: 30, fill: palette.get(score.grade) || '#475569' }),
    text(centreX, centreY + 5, truncate(score.subject, 8), 'centre-label mid')));
  return root;
}

// ---------------------------------------------------------------- start

document.querySelector('.search').addEventListener('submit', (event) => {
  event.preventDefault();
  const subject = event.currentTarget.elements.subject.value.trim();
  if (!subject) return;
  if (location.hash === subjectHref(subject)) route();
  else location.hash = subjectHref(subject);
});
let resizeTimer = 0;
window.addEventListener('resize', () => {
  clearTimeout(resizeTimer);
  resizeTimer = setTimeout(() => rerender && main.clientWidth !== renderedWidth && rerender(), 150);
});
window.addEventListener('hashchange', route);
takeKeyFromUrl();
route();
