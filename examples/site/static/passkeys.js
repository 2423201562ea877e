// WebAuthn for the site's pages: the server's options arrive as JSON, with every
// binary field in base64url, and the browser's answer goes back the same way.

const toBytes = (s) => {
  const b64 = s.replace(/-/g, "+").replace(/_/g, "/");
  const bin = atob(b64 + "=".repeat((4 - (b64.length % 4)) % 4));
  return Uint8Array.from(bin, (c) => c.charCodeAt(0)).buffer;
};

const toText = (buf) => {
  let bin = "";
  for (const b of new Uint8Array(buf)) bin += String.fromCharCode(b);
  return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
};

const ids = (list) => (list || []).map((c) => ({ ...c, id: toBytes(c.id) }));

// available reports whether this browser can use passkeys at all.
export const available = () => typeof window.PublicKeyCredential === "function" && !!navigator.credentials;

// create asks the browser for a new passkey with the server's options and
// returns its answer as the JSON text the server reads.
export async function create(options) {
  const pk = options.publicKey;
  const cred = await navigator.credentials.create({
    publicKey: { ...pk, challenge: toBytes(pk.challenge), user: { ...pk.user, id: toBytes(pk.user.id) }, excludeCredentials: ids(pk.excludeCredentials) },
  });
  const r = cred.response;
  return JSON.stringify({
    id: cred.id, rawId: toText(cred.rawId), type: cred.type, authenticatorAttachment: cred.authenticatorAttachment,
    clientExtensionResults: cred.getClientExtensionResults(),
    response: { clientDataJSON: toText(r.clientDataJSON), attestationObject: toText(r.attestationObject), transports: r.getTransports?.() || [] },
  });
}

// get asks the browser to sign the server's challenge with a passkey and returns
// its answer as the JSON text the server reads.
export async function get(options) {
  const pk = options.publicKey;
  const cred = await navigator.credentials.get({
    publicKey: { ...pk, challenge: toBytes(pk.challenge), allowCredentials: ids(pk.allowCredentials) },
  });
  const r = cred.response;
  return JSON.stringify({
    id: cred.id, rawId: toText(cred.rawId), type: cred.type, authenticatorAttachment: cred.authenticatorAttachment,
    clientExtensionResults: cred.getClientExtensionResults(),
    response: {
      clientDataJSON: toText(r.clientDataJSON), authenticatorData: toText(r.authenticatorData), signature: toText(r.signature),
      userHandle: r.userHandle ? toText(r.userHandle) : undefined,
    },
  });
}
