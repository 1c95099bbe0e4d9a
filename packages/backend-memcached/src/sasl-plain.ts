import { Utils } from 'memjs';
import { Opcode } from './protocol.js';

/**
 * SASL PLAIN over memcached's binary protocol, the one authentication memcached offers. The
 * frames are built by memjs's protocol utilities (`Utils.makeRequestBuffer`, a documented export):
 * memjs supplies the framing, the connection owns the socket and reads the answers.
 */

/** The request that lists the server's mechanisms; sent first, as memjs does. */
export function listMechanismsFrame(): Buffer {
  return Utils.makeRequestBuffer(Opcode.SaslListMechs, '', '', '', 0);
}

/** The PLAIN authentication request: `\0user\0password`, UTF-8. */
export function plainAuthFrame(username: string, password: string): Buffer {
  return Utils.makeRequestBuffer(Opcode.SaslAuth, 'PLAIN', '', `\0${username}\0${password}`, 0);
}
