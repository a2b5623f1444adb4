// What the browser scripts share: loading packages from NODE_MODULES, launching Chromium,
// small checks, answering the client's redirect URI inside Chromium, and the exit protocol.

import { createRequire } from 'node:module';
import path from 'node:path';

export const TIMEOUT_MS = 15_000;

// ES modules ignore NODE_PATH: resolve packages from NODE_MODULES when given
export const require = createRequire(
  process.env.NODE_MODULES ? path.join(process.env.NODE_MODULES, '..', 'x.js') : import.meta.url,
);

// Headless Chromium (CHROMIUM, default /usr/bin/chromium), driven by playwright-core.
export async function launchChromium() {
  let chromium;
  try {
    ({ chromium } = require('playwright-core'));
  } catch (error) {
    throw new Error(`cannot load playwright-core (NODE_MODULES=${process.env.NODE_MODULES ?? 'unset'}): ${error.message.split('\n')[0]}`);
  }
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    timeout: 60_000,
  });
}

export function env(name) {
  const value = process.env[name];
  if (!value) throw new Error(`environment variable ${name} is not set`);
  return value;
}

export function check(condition, message) {
  if (!condition) throw new Error(message);
}

export async function bodyText(page) {
  return page.locator('body').innerText().catch(() => '');
}

export async function expectVisible(page, selector, note = '') {
  try {
    await page.locator(selector).first().waitFor({ state: 'visible', timeout: TIMEOUT_MS });
  } catch {
    const text = (await bodyText(page)).slice(0, 2000);
    throw new Error(`no visible ${selector}${note} on ${page.url()}; the page shows:\n${text}`);
  }
}

// Runs a script's main: exit status 0, or 1 with "<name>: <what failed>" on stderr.
export function run(name, main) {
  main().then(
    () => { process.exitCode = 0; },
    (error) => {
      console.error(`${name}: ${error.message}`);
      process.exitCode = 1;
    },
  );
}

// Answers every request to the client's redirect URI with a plain "redirected", so that the
// browser follows the edge's 303 itself but nothing is sent to the client. page.route() cannot do
// it: its handler is only called for the first URL of a redirect chain, and the request to the
// redirect URI is the second. Chromium's Fetch domain pauses every hop, redirects included.
export async function answerRedirects(page, redirectUri) {
  const cdp = await page.context().newCDPSession(page);
  const glob = redirectUri.replace(/[\\*?]/g, (c) => `\\${c}`) + '*';
  cdp.on('Fetch.requestPaused', ({ requestId, request }) => {
    const answer = request.url.startsWith(redirectUri)
      ? cdp.send('Fetch.fulfillRequest', {
          requestId,
          responseCode: 200,
          responseHeaders: [{ name: 'Content-Type', value: 'text/plain' }],
          body: Buffer.from('redirected').toString('base64'),
        })
      : cdp.send('Fetch.continueRequest', { requestId });
    answer.catch(() => {});
  });
  await cdp.send('Fetch.enable', { patterns: [{ urlPattern: glob, requestStage: 'Request' }] });
}
