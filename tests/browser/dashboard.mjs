// Drives the operator dashboard in headless Chromium against a running Standing server and
// checks what a person would see: every page renders real data, with no console error or warning.
//
// Usage: node tests/browser/dashboard.mjs <base-url> <operator-key> <subject-id> [screenshot-dir]
// Chromium: $CHROMIUM, else /usr/bin/chromium or /usr/bin/chromium-browser (apt-get install chromium).
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const READY_TIMEOUT_MS = 10_000;
const MISSING_SUBJECT = 'no-such-person';
const VIEWPORT = { width: 1280, height: 900 };
const NARROW_VIEWPORT = { width: 390, height: 844 };

const [baseArgument, operatorKey, subjectId, screenshotArgument] = process.argv.slice(2);
if (!baseArgument || !operatorKey || !subjectId) {
  console.error('usage: node tests/browser/dashboard.mjs <base-url> <operator-key> <subject-id> [screenshot-dir]');
  process.exit(2);
}
const baseUrl = baseArgument.replace(/\/+$/, '');
const screenshotDir = path.resolve(screenshotArgument || path.join(path.dirname(fileURLToPath(import.meta.url)), 'screenshots'));

const results = [];
function check(name, passed, detail) {
  results.push(passed);
  console.log(`${passed ? 'ok  ' : 'FAIL'} ${name}${detail ? ` — ${detail}` : ''}`);
  return passed;
}

// Runs one step; a step that throws (a timeout, say) is a failed check and the next step still runs.
async function step(name, body) {
  try {
    await body();
  } catch (error) {
    check(name, false, String(error.message || error).split('\n')[0]);
  }
}

function findChromium() {
  if (process.env.CHROMIUM) {
    if (fs.existsSync(process.env.CHROMIUM)) return process.env.CHROMIUM;
    console.error(`$CHROMIUM names ${process.env.CHROMIUM}, which does not exist.`);
    process.exit(2);
  }
  const found = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((candidate) => fs.existsSync(candidate));
  if (found) return found;
  console.error('No Chromium found at /usr/bin/chromium or /usr/bin/chromium-browser: run `apt-get install chromium` (Debian) or set $CHROMIUM.');
  process.exit(2);
}

async function apiGet(apiPath) {
  const response = await fetch(baseUrl + apiPath, { headers: { Authorization: `Bearer ${operatorKey}` } });
  if (!response.ok) throw new Error(`GET ${apiPath} answered ${response.status}: ${await response.text()}`);
  return response.json();
}

// Everything a page reports that a person should never see; `allowed` names deliberate failures.
function watch(page, allowed) {
  const problems = [];
  page.on('console', (message) => {
    if (message.type() !== 'error' && message.type() !== 'warning') return;
    const source = message.location().url || '';
    if (allowed(source, message.text())) return;
    problems.push(`console ${message.type()}: ${message.text()}${source ? ` (${source})` : ''}`);
  });
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('requestfailed', (request) => problems.push(`request failed: ${request.method()} ${request.url()} ${request.failure()?.errorText || ''}`));
  page.on('response', (response) => {
    if (response.status() >= 400 && !allowed(response.url(), `status of ${response.status()}`)) {
      problems.push(`HTTP ${response.status()} for ${response.request().method()} ${response.url()}`);
    }
  });
  return problems;
}

function checkQuiet(name, problems) {
  const found = problems.splice(0);
  check(`${name}: no console error or warning, page error or failed request`, found.length === 0, found.slice(0, 5).join(' | '));
}

// Waits until the page named `name` has rendered, and (when given) its heading reads `heading`.
async function waitReady(page, name, heading) {
  await page.waitForFunction(([pageName, expectedHeading]) => {
    const container = document.querySelector(`[data-page="${pageName}"][data-ready="true"]`);
    if (!container) return false;
    return expectedHeading === null || container.querySelector('h1')?.textContent === expectedHeading;
  }, [name, heading ?? null], { timeout: READY_TIMEOUT_MS });
}

// Sets the hash and returns once the app's router has run (its listener was added first).
async function goToHash(page, hash) {
  await page.evaluate((target) => new Promise((resolve) => {
    window.addEventListener('hashchange', () => resolve(), { once: true });
    location.hash = target;
  }), hash);
}

async function timed(label, body) {
  const started = performance.now();
  await body();
  const elapsed = Math.round(performance.now() - started);
  console.log(`time ${label}: ${elapsed} ms from navigation to data-ready`);
  return elapsed;
}

async function screenshot(page, name) {
  const file = path.join(screenshotDir, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

const pageText = (page, name) => page.locator(`[data-page="${name}"]`).innerText();
const subjectHash = (subject) => `#/subject/${encodeURIComponent(subject)}`;

async function main() {
  fs.mkdirSync(screenshotDir, { recursive: true });
  const executablePath = findChromium();
  const browser = await chromium.launch({ executablePath, headless: true, args: ['--no-sandbox'] });
  console.log(`chromium ${browser.version()} at ${executablePath}; dashboard at ${baseUrl}`);
  const [model, overviewBefore] = await Promise.all([apiGet('/v1/model'), apiGet('/v1/overview')]);
  const subjectPath = `/v1/subjects/${encodeURIComponent(subjectId)}`;
  const [explanation, contacts] = await Promise.all([apiGet(`${subjectPath}/explanation`), apiGet(`${subjectPath}/contacts`)]);

  try {
    await keyChecks(browser);
    await dashboardChecks(browser, model, overviewBefore, explanation, contacts);
    await portalChecks(browser);
  } finally {
    await browser.close();
  }
}

// The subject portal: a person signs in with their own key ($PORTAL_KEY, which .ci/browser
// passes) and reads what is held about them, then changes a consent.
async function portalChecks(browser) {
  const portalKey = process.env.PORTAL_KEY;
  if (!portalKey) {
    check('portal: PORTAL_KEY names a subject key to sign in with', false, 'unset');
    return;
  }
  const context = await browser.newContext({ viewport: VIEWPORT });
  const page = await context.newPage();
  const problems = watch(page, () => false);
  await step('portal', async () => {
    await timed('portal', async () => {
      await page.goto(`${baseUrl}/portal`);
      await page.fill('#key', portalKey);
      await page.click('#signin button');
      await page.waitForSelector('[data-page="portal"][data-ready="true"]', { timeout: 10000 });
    });
    const text = await page.locator('#portal').innerText();
    check('portal: shows the score and grade', /\d/.test(await page.locator('#score').innerText()) && (await page.locator('#grade').innerText()).length > 0);
    const rows = await page.locator('#events tbody tr').count();
    check('portal: lists the events recorded about the subject', rows > 0, `${rows} rows`);
    check('portal: names who received the data', text.includes('Who received your data'));
    const buttons = page.locator('#consent button');
    const before = await buttons.count();
    check('portal: offers consent choices for purposes not required by law', before > 0, `${before} buttons`);
    if (before > 0) {
      const label = (await buttons.first().innerText()).trim();
      await buttons.first().click();
      await page.waitForFunction((old) => {
        const first = document.querySelector('#consent button');
        return first && first.textContent.trim() !== old;
      }, label, { timeout: 10000 });
      const after = (await buttons.first().innerText()).trim();
      check('portal: a consent change takes effect and shows at once', after !== label, `${label} → ${after}`);
    }
    await screenshot(page, 'portal');
  });
  checkQuiet('portal', problems);
  await context.close();
}

// Without a key the dashboard asks for one (and calls no API); a refused key brings the form back.
async function keyChecks(browser) {
  const context = await browser.newContext({ viewport: VIEWPORT });
  const page = await context.newPage();
  const problems = watch(page, () => false);
  const apiCalls = [];
  page.on('request', (request) => request.url().includes('/v1/') && apiCalls.push(request.url()));
  await step('key form', async () => {
    await page.goto(`${baseUrl}/#/`);
    await waitReady(page, 'key');
    check('key form: shown when no key is stored, and no API call made', await page.locator('#key-input').isVisible() && apiCalls.length === 0,
      `${apiCalls.length} API calls`);
    await screenshot(page, 'key-form');
    await page.fill('#key-input', operatorKey);
    await page.press('#key-input', 'Enter');
    await waitReady(page, 'overview');
    check('key form: a key typed in opens the overview', true);
  });
  checkQuiet('key form', problems);
  await context.close();

  const refusedContext = await browser.newContext({ viewport: VIEWPORT });
  const refusedPage = await refusedContext.newPage();
  // This check asks with a wrong key on purpose: its 401 or 403 answers are expected.
  const refusedProblems = watch(refusedPage, (url, message) => url.includes('/v1/') && /status of 40[13]/.test(message));
  await step('refused key', async () => {
    await refusedPage.goto(`${baseUrl}/?key=not-a-real-key-${Date.now()}#/`);
    await waitReady(refusedPage, 'key');
    const notice = await refusedPage.locator('[data-page="key"] .notice').innerText();
    check('refused key: the key form comes back with the API’s message', notice.trim().length > 0, JSON.stringify(notice));
  });
  checkQuiet('refused key', refusedProblems);
  await refusedContext.close();
}

async function dashboardChecks(browser, model, overviewBefore, explanation, contacts) {
  const context = await browser.newContext({ viewport: VIEWPORT });
  const page = await context.newPage();
  // Only the deliberate look-up of a missing subject may answer 404.
  const missingPath = `/v1/subjects/${MISSING_SUBJECT}/`;
  const problems = watch(page, (url, message) => url.includes(missingPath) && message.includes('status of 404'));
  const overviewRequests = [];
  page.on('request', (request) => request.url().endsWith('/v1/overview') && overviewRequests.push(performance.now()));
  const times = {};

  await step('overview', async () => {
    times.overview = await timed('overview', async () => {
      await page.goto(`${baseUrl}/?key=${encodeURIComponent(operatorKey)}#/`);
      await waitReady(page, 'overview');
    });
    const url = page.url();
    const stored = await page.evaluate(() => localStorage.getItem('standing-key'));
    check('overview: key taken from the URL, kept in localStorage and removed from the address', !url.includes('key=') && stored === operatorKey, url);
    const shown = await page.evaluate(() => {
      const figure = [...document.querySelectorAll('[data-page="overview"] .figure')]
        .find((candidate) => candidate.querySelector('.figure-label')?.textContent === 'Subjects');
      return figure ? { raw: Number(figure.dataset.value), text: figure.querySelector('.figure-value').textContent } : null;
    });
    const overviewAfter = await apiGet('/v1/overview');
    check('overview: shows the subject count that /v1/overview reports',
      shown !== null && shown.raw >= overviewBefore.subjects && shown.raw <= overviewAfter.subjects && shown.text === shown.raw.toLocaleString('en-US'),
      shown ? `${shown.text} (API ${overviewBefore.subjects}…${overviewAfter.subjects})` : 'no Subjects figure');
    const bins = await page.locator('[data-page="overview"] svg.histogram rect').count();
    check('overview: histogram drawn with grade bands', bins > overviewBefore.grades.length, `${bins} rects`);
    const text = await pageText(page, 'overview');
    const missingGrades = overviewBefore.grades.filter((grade) => !text.includes(grade.name)).map((grade) => grade.name);
    check('overview: every grade is listed', missingGrades.length === 0, missingGrades.join(', '));
    const links = await page.locator('[data-page="overview"] a[href^="#/subject/"]').count();
    const expectedLinks = overviewBefore.lowest.length + overviewBefore.highest.length;
    check('overview: lowest and highest subjects link to their pages', links === expectedLinks, `${links} of ${expectedLinks}`);
    await page.waitForResponse((response) => response.url().endsWith('/v1/overview'), { timeout: 5000 });
    check('overview: polls /v1/overview again', overviewRequests.length >= 2, `${overviewRequests.length} requests`);
    await page.waitForFunction(() => document.querySelector('svg.sparkline path.spark-line'), null, { timeout: 5000 });
    check('overview: total events/s sparkline drawn after two polls', true);
    await screenshot(page, 'overview');
  });
  checkQuiet('overview', problems);

  await step('subject', async () => {
    times.subject = await timed('subject', async () => {
      await goToHash(page, subjectHash(subjectId));
      await waitReady(page, 'subject', subjectId);
    });
    const requestsAtLeave = overviewRequests.length;
    const container = page.locator('[data-page="subject"]');
    check('subject: title names the subject', (await page.title()).includes(subjectId), await page.title());
    const grade = (await container.locator('.score-block .grade').innerText()).trim();
    const gradeNames = model.grades.map((entry) => entry.name);
    check('subject: shows a grade of the model', gradeNames.includes(grade) && grade === explanation.score.grade, `${grade} (API ${explanation.score.grade})`);
    const score = (await container.locator('.score-value').innerText()).trim();
    const expectedScore = explanation.score.score.toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 });
    check('subject: shows the served score', score === expectedScore, `${score} (API ${expectedScore})`);
    const steps = await container.locator('svg.waterfall .wf-step').count();
    check('subject: waterfall has a step per dimension and the contacts', steps >= 2 && steps >= explanation.dimensions.length + 1, `${steps} steps`);
    const contactNodes = await container.locator('svg.network a.contact-node').count();
    if (contacts.contact_count > 0) {
      check('subject: network drawn with the contacts', contactNodes >= 1 && contactNodes === contacts.contacts.length, `${contactNodes} nodes, API ${contacts.contacts.length} of ${contacts.contact_count}`);
    } else {
      check('subject: no network nodes for a subject without contacts', contactNodes === 0, `${contactNodes} nodes`);
    }
    const timeline = await container.locator('svg.timeline path.line').count() + await container.locator('svg.timeline circle.current').count();
    check('subject: score timeline with the served score marked', timeline === 2, `${timeline} of line and current dot`);
    const factors = await container.locator('.factors li').count();
    check('subject: key factors listed', factors === explanation.key_factors.length, `${factors} of ${explanation.key_factors.length}`);
    await screenshot(page, 'subject');

    await page.setViewportSize(NARROW_VIEWPORT);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    check(`subject: no sideways scrolling at ${NARROW_VIEWPORT.width} px wide`, overflow <= 0, `${overflow} px too wide`);
    await screenshot(page, 'subject-narrow');
    await page.setViewportSize(VIEWPORT);

    await page.waitForTimeout(2500);
    check('subject: the overview stopped polling when left', overviewRequests.length === requestsAtLeave, `${overviewRequests.length - requestsAtLeave} requests after leaving`);
    if (contactNodes > 0) {
      const contactHref = await container.locator('svg.network a.contact-node').first().getAttribute('href');
      const contactId = decodeURIComponent(contactHref.replace('#/subject/', ''));
      await container.locator('svg.network a.contact-node').first().click();
      await waitReady(page, 'subject', contactId);
      check('subject: selecting a contact opens its page', true, contactId);
    }
  });
  checkQuiet('subject', problems);

  await step('model', async () => {
    times.model = await timed('model', async () => {
      await goToHash(page, '#/model');
      await waitReady(page, 'model');
    });
    const text = await pageText(page, 'model');
    const missingPurposes = model.purposes.map((purpose) => purpose.name).filter((name) => !text.includes(name));
    check('model: every purpose is listed', missingPurposes.length === 0, missingPurposes.length ? `missing ${missingPurposes.join(', ')}` : `${model.purposes.length} purposes`);
    const missingDimensions = model.dimensions.map((dimension) => dimension.name).filter((name) => !text.includes(name));
    check('model: every dimension is listed', missingDimensions.length === 0, missingDimensions.join(', '));
    const rules = model.dimensions.flatMap((dimension) => dimension.rules.map((rule) => rule.code)).filter((code) => !text.includes(code));
    check('model: every rule is listed', rules.length === 0, rules.join(', '));
    await screenshot(page, 'model');
  });
  checkQuiet('model', problems);

  await step('search', async () => {
    times.search = await timed('search', async () => {
      await page.fill('#search-subject', subjectId);
      await page.press('#search-subject', 'Enter');
      await waitReady(page, 'subject', subjectId);
    });
    const hash = await page.evaluate(() => location.hash);
    check('search: the search box opens the subject page', hash === subjectHash(subjectId), hash);
  });
  checkQuiet('search', problems);

  await step('missing subject', async () => {
    times.missing = await timed('missing subject', async () => {
      await goToHash(page, subjectHash(MISSING_SUBJECT));
      await waitReady(page, 'subject');
    });
    const text = await pageText(page, 'subject');
    check('missing subject: says "No subject"', text.includes(`No subject ${MISSING_SUBJECT}`), JSON.stringify(text.slice(0, 80)));
    await screenshot(page, 'missing-subject');
  });
  checkQuiet('missing subject', problems);

  await context.close();
  console.log(`render times (ms): ${Object.entries(times).map(([name, ms]) => `${name} ${ms}`).join(', ')}`);
}

try {
  await main();
} catch (error) {
  check('browser test ran to the end', false, String(error.message || error).split('\n')[0]);
}
const failed = results.filter((passed) => !passed).length;
console.log(`screenshots in ${screenshotDir}`);
console.log(`${results.length - failed} passed, ${failed} failed`);
process.exit(failed === 0 && results.length > 0 ? 0 : 1);
