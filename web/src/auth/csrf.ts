// The CSRF token of the UI's session (a login to a server with users):
// sent in X-CSRF-Token with every request that changes state. Kept in
// memory only; GET /api/v1/auth/me gives it again after a reload.
let csrf = '';

export function getCSRF(): string {
  return csrf;
}

export function setCSRF(token: string): void {
  csrf = token;
}
