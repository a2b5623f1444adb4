// What the browser scripts share: answering the client's redirect URI inside Chromium.

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
