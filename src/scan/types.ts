// The vocabulary between the protocols and the scan pipeline lives in core (it is part of the session contract);
// scan's own modules keep importing it from here.
export type * from '../core/scan-contract.js';
