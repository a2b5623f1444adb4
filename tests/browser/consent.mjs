// The edge's OAuth consent page in a real (headless) Chromium, driven by playwright-core.
//
// Opens the authorization URL, checks what the page tells the resource owner, submits a wrong
// owner credential (the page must come back with #error and the form), then the right one and
// approves; the browser follows the edge's redirect to the client, which is answered here and
// never sent. Optionally opens a URL whose page must show an element #error (unknown client, bad
// redirect URI, expired request).
//
// Environment:
//   AUTHORIZE_URL     the full authorization URL (response_type=code&client_id=...)
//   REDIRECT_URI      the client's redirect URI: navigation to anything starting with it is
//                     answered here with a plain "redirected"
//   OWNER_CREDENTIAL  the resource owner's credential
//   WRONG_CREDENTIAL  a credential the edge must refuse
//   EXPECT_TEXT       '|'-separated strings the consent page must show (organization, connection,
//                     client names)
//   SCREENSHOT_DIR    where consent.png, consent-rejected.png (and error.png) are saved
//   ERROR_URL         optional: a URL whose page must show an element #error
//   CHROMIUM          the browser binary (default /usr/bin/chromium)
//   NODE_MODULES      optional: the node_modules directory that holds playwright-core
//
// Prints one JSON line {"redirected_to": "<final url>"} and exits 0; on failure prints what
// failed to stderr and exits 1.

import { mkdirSync } from 'node:fs';
import path from 'node:path';

import {
  TIMEOUT_MS, answerRedirects, bodyText, check, env, expectVisible, launchChromium, run,
} from './common.mjs';

const isAuthorizePost = (response) =>
  response.request().method() === 'POST' && new URL(response.url()).pathname === '/oauth/authorize';

async function main() {
  const authorizeUrl = env('AUTHORIZE_URL');
  const redirectUri = env('REDIRECT_URI');
  const ownerCredential = env('OWNER_CREDENTIAL');
  const wrongCredential = env('WRONG_CREDENTIAL');
  const expectText = env('EXPECT_TEXT').split('|').filter((s) => s.length > 0);
  const screenshotDir = env('SCREENSHOT_DIR');
  const errorUrl = process.env.ERROR_URL;
  mkdirSync(screenshotDir, { recursive: true });
  const shot = (name) => path.join(screenshotDir, name);

  let step = 'launching Chromium';
  let browser;
  try {
    step = 'launching Chromium';
    browser = await launchChromium();
    const page = await browser.newPage();
    page.setDefaultTimeout(TIMEOUT_MS);

    step = 'opening the consent page';
    const response = await page.goto(authorizeUrl);
    check(response && response.status() === 200, `status ${response && response.status()}, not 200:\n${await bodyText(page)}`);
    const text = await bodyText(page);
    for (const expected of expectText) {
      check(text.includes(expected), `the page does not show ${JSON.stringify(expected)}; it shows:\n${text}`);
    }
    await expectVisible(page, '#owner_credential');
    await expectVisible(page, '#approve');
    await expectVisible(page, '#deny');
    await page.screenshot({ path: shot('consent.png'), fullPage: true });

    step = 'approving with a wrong owner credential';
    await page.fill('#owner_credential', wrongCredential);
    const [rejected] = await Promise.all([page.waitForResponse(isAuthorizePost), page.click('#approve')]);
    await page.waitForLoadState('load');
    check(rejected.status() === 401, `status ${rejected.status()}, not 401:\n${await bodyText(page)}`);
    await expectVisible(page, '#error');
    await expectVisible(page, 'form[action="/oauth/authorize"] #owner_credential', ' (the form again)');
    await expectVisible(page, '#approve', ' (the form again)');
    await page.screenshot({ path: shot('consent-rejected.png'), fullPage: true });

    step = 'approving with the owner credential';
    await answerRedirects(page, redirectUri);
    await page.fill('#owner_credential', ownerCredential);
    await Promise.all([
      page.waitForURL((url) => url.href.startsWith(redirectUri)),
      page.click('#approve'),
    ]);
    const redirectedTo = page.url();
    check(new URL(redirectedTo).searchParams.has('code'), `redirected without a code: ${redirectedTo}`);

    if (errorUrl) {
      step = 'opening the error page';
      await page.goto(errorUrl);
      await expectVisible(page, '#error');
      await page.screenshot({ path: shot('error.png'), fullPage: true });
    }

    console.log(JSON.stringify({ redirected_to: redirectedTo }));
  } catch (error) {
    throw new Error(`${step}: ${error && error.message ? error.message : error}`);
  } finally {
    if (browser) await browser.close().catch(() => {});
  }
}

run('consent.mjs', main);
