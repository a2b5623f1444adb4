// The setup portal in a real (headless) Chromium, driven by playwright-core, checked by axe-core.
//
// Walks what the seed documents ask of an organization owner, in the portal: open the one-time
// link, define the default role, test the connection, generate a SCIM token (shown once, copied
// with its button), read the Okta and Entra ID guides, create a connection and register an OAuth
// client, then approve an identity provider's OAuth request on the consent page with the portal
// session (no owner credential), and turn SCIM off and on. Every page is screenshotted at desktop and
// phone width and checked with axe-core (WCAG 2.1 A and AA): any serious or critical violation
// fails the run. A reused link must show the plain error page.
//
// Environment:
//   LINK_URL         the portal link (http://<edge>/portal/link/idportal_…)
//   ROLE_NAME        a role of the organization to choose as the default
//   AUTHORIZE_URL    an authorization URL of an OAuth client of the organization
//   REDIRECT_URI     that client's redirect URI (answered here, never sent)
//   EXPECT_TEXT      '|'-separated strings the overview must show
//   SCREENSHOT_DIR   where the screenshots are saved
//   CHROMIUM         the browser binary (default /usr/bin/chromium)
//   NODE_MODULES     the node_modules directory that holds playwright-core and axe-core
//
// Prints one JSON line {"token": ..., "connection_id": ..., "client_id": ..., "code_redirect": ...}
// and exits 0; on failure prints what failed to stderr and exits 1.

import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

import {
  TIMEOUT_MS, answerRedirects, bodyText, check, env, expectVisible, launchChromium, require, run,
} from './common.mjs';

const PHONE = { width: 390, height: 844 };
const DESKTOP = { width: 1280, height: 900 };

// axe-core, injected into the page; serious and critical violations fail
async function accessible(page, name) {
  // evaluated through the DevTools protocol: the pages' policy allows no inline script
  const source = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
  await page.evaluate(source);
  const result = await page.evaluate(async () =>
    // eslint-disable-next-line no-undef
    axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] } }),
  );
  const serious = result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  check(
    serious.length === 0,
    `${name}: accessibility violations:\n${serious.map((v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`).join('\n')}`,
  );
  return result.violations.length;
}

// every page: a screenshot at desktop and phone width, axe at both, nothing wider than the phone
async function inspect(page, shots, name) {
  await page.setViewportSize(DESKTOP);
  await page.screenshot({ path: shots(`${name}.png`), fullPage: true });
  let minor = await accessible(page, name);
  await page.setViewportSize(PHONE);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  check(overflow <= 1, `${name}: ${overflow}px wider than a phone screen`);
  await page.screenshot({ path: shots(`${name}-phone.png`), fullPage: true });
  minor += await accessible(page, `${name} (phone)`);
  await page.setViewportSize(DESKTOP);
  return minor;
}

async function main() {
  const linkUrl = env('LINK_URL');
  const roleName = env('ROLE_NAME');
  const authorizeUrl = env('AUTHORIZE_URL');
  const redirectUri = env('REDIRECT_URI');
  const expectText = env('EXPECT_TEXT').split('|').filter((s) => s.length > 0);
  const screenshotDir = env('SCREENSHOT_DIR');
  mkdirSync(screenshotDir, { recursive: true });
  const shots = (name) => path.join(screenshotDir, name);
  const origin = new URL(linkUrl).origin;

  let step = 'launching Chromium';
  let browser;
  try {
    step = 'launching Chromium';
    browser = await launchChromium();
    const context = await browser.newContext({ viewport: DESKTOP });
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin });
    const page = await context.newPage();
    page.setDefaultTimeout(TIMEOUT_MS);
    let minor = 0;

    step = 'opening the link';
    await page.goto(linkUrl);
    await expectVisible(page, '#open');
    minor += await inspect(page, shots, 'portal-link');
    await Promise.all([page.waitForURL(`${origin}/portal`), page.click('#open')]);
    const overview = await bodyText(page);
    for (const expected of expectText) {
      check(overview.includes(expected), `the overview does not show ${JSON.stringify(expected)}:\n${overview}`);
    }
    minor += await inspect(page, shots, 'portal-overview');

    step = 'defining the default role';
    await page.click('nav >> text=Settings');
    await page.selectOption('#default-role-select', { label: roleName });
    await Promise.all([page.waitForURL(/done=default-role/), page.click('#save-default-role')]);
    await expectVisible(page, '#notice');
    minor += await inspect(page, shots, 'portal-settings');

    step = 'testing the connection';
    await page.click('nav >> text=Overview');
    await Promise.all([page.waitForURL(`${origin}/portal/test`), page.click('#test-connection')]);
    await expectVisible(page, '#test-result.notice');
    minor += await inspect(page, shots, 'portal-connection-test');

    step = 'generating a SCIM token';
    await page.click('nav >> text=Tokens');
    await page.fill('#description', 'Okta production');
    await Promise.all([page.waitForLoadState('load'), page.click('#generate')]);
    await expectVisible(page, '#token-secret');
    const token = (await page.locator('#token-secret').innerText()).trim();
    check(token.startsWith('idscim_'), `not a SCIM token: ${token}`);
    await page.click('button[data-copy="token-secret"]');
    await page.waitForFunction(() => document.querySelector('button[data-copy="token-secret"]').textContent === 'Copied');
    const copied = await page.evaluate(() => navigator.clipboard.readText());
    check(copied.trim() === token, `the copy button copied ${JSON.stringify(copied)}`);
    minor += await inspect(page, shots, 'portal-token-issued');
    await page.click('nav >> text=Tokens');
    check(!(await bodyText(page)).includes(token), 'the token is shown again');
    minor += await inspect(page, shots, 'portal-tokens');

    step = 'reading the guides';
    await page.click('nav >> text=Okta');
    for (const field of ['SCIM 2.0 Test App (Header Auth)', 'Base URL', 'API Token', 'Test API Credentials', 'Unique identifier field for users', 'Push Groups']) {
      check((await bodyText(page)).includes(field), `the Okta guide does not name ${field}`);
    }
    minor += await inspect(page, shots, 'portal-okta');
    await page.click('nav >> text=Microsoft Entra ID');
    for (const field of ['Non-gallery', 'Provisioning Mode', 'Tenant URL', 'Secret Token', 'Test Connection', 'Sync only assigned users and groups']) {
      check((await bodyText(page)).includes(field), `the Entra ID guide does not name ${field}`);
    }
    minor += await inspect(page, shots, 'portal-entra');

    step = 'creating a connection and an OAuth client';
    await page.click('nav >> text=Connections');
    await page.fill('#connection-name', 'Okta production');
    await Promise.all([page.waitForURL(/done=connection/), page.click('#create-connection')]);
    const section = page.locator('section').filter({ has: page.locator('h2', { hasText: /^Okta production$/ }) });
    const connectionId = (await section.locator('code.secret').first().innerText()).trim();
    await section.locator('summary').click();
    await section.locator('input[name="redirect_uri"]').fill('https://example.okta.com/admin/app/cpc/portal/oauth/callback');
    await Promise.all([page.waitForLoadState('load'), section.locator('button[type="submit"]').click()]);
    await expectVisible(page, '#client-secret');
    const clientId = (await page.locator('#client-id').innerText()).trim();
    minor += await inspect(page, shots, 'portal-connections');

    step = 'approving an OAuth request with the portal session';
    await answerRedirects(page, redirectUri);
    await page.goto(authorizeUrl);
    await expectVisible(page, '#portal-approver');
    check((await page.locator('#owner_credential').count()) === 0, 'the consent page still asks for an owner credential');
    await page.screenshot({ path: shots('consent-portal.png'), fullPage: true });
    minor += await accessible(page, 'consent-portal');
    await Promise.all([page.waitForURL((url) => url.href.startsWith(redirectUri)), page.click('#approve')]);
    const codeRedirect = page.url();
    check(new URL(codeRedirect).searchParams.has('code'), `redirected without a code: ${codeRedirect}`);

    step = 'turning SCIM off and on';
    await page.goto(`${origin}/portal/settings`);
    await Promise.all([page.waitForURL(/done=disabled/), page.click('#disable-scim')]);
    check((await bodyText(page)).includes('Users and roles are kept'), 'disabling does not say data is kept');
    await Promise.all([page.waitForURL(/done=enabled/), page.click('#enable-scim')]);

    step = 'reusing the link';
    await page.goto(linkUrl);
    await Promise.all([page.waitForLoadState('load'), page.click('#open')]);
    await expectVisible(page, '#error');
    minor += await inspect(page, shots, 'portal-link-used');

    console.log(JSON.stringify({ token, connection_id: connectionId, client_id: clientId, code_redirect: codeRedirect, minor_accessibility_findings: minor }));
  } catch (error) {
    throw new Error(`${step}: ${error && error.message ? error.message : error}`);
  } finally {
    if (browser) await browser.close().catch(() => {});
  }
}

run('portal.mjs', main);
