// AES-256-GCM, one random 96-bit nonce per sealed value, the secret's name as associated
// data: a sealed value moved to another name's row (a hand-edited registry) fails to open
// instead of handing one function another's secret. Random nonces are safe here: a registry
// seals far fewer than the ~2^32 values after which a repeat becomes a risk.
import crypto from 'node:crypto';

/** First byte of every sealed value: the layout below (a later one can rotate keys). */
const FORMAT = 1;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;

/** [format][nonce 12][ciphertext][tag 16] */
export function seal(key: Buffer, name: string, plaintext: Buffer): Buffer {
  const nonce = crypto.randomBytes(NONCE_BYTES);
  const c = crypto.createCipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG_BYTES });
  c.setAAD(Buffer.from(name, 'utf8'));
  const body = Buffer.concat([c.update(plaintext), c.final()]);
  return Buffer.concat([Buffer.of(FORMAT), nonce, body, c.getAuthTag()]);
}

/** The plaintext, or null when the value does not open with this key and name (wrong key, tampered, moved). */
export function open(key: Buffer, name: string, sealed: Buffer): Buffer | null {
  if (sealed.length < 1 + NONCE_BYTES + TAG_BYTES || sealed[0] !== FORMAT) return null;
  const nonce = sealed.subarray(1, 1 + NONCE_BYTES);
  const tag = sealed.subarray(sealed.length - TAG_BYTES);
  const body = sealed.subarray(1 + NONCE_BYTES, sealed.length - TAG_BYTES);
  try {
    const d = crypto.createDecipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG_BYTES });
    d.setAAD(Buffer.from(name, 'utf8'));
    d.setAuthTag(tag);
    return Buffer.concat([d.update(body), d.final()]);
  } catch {
    return null;
  }
}
