// The commented template `mailshield init` writes. It must always validate against the schema (a test checks).
export const CONFIG_TEMPLATE = `# mailshield configuration. Every key is optional except the accounts you want to shield.
# Reference: README.md, "Configuration". Relative paths resolve against this file's folder.

dataDir: ./.mailshield          # local CA, store (SQLite) and quarantine live here

policy:
  # Client leg (mail client -> mailshield). auto: TLS 1.0+ with SHA-1 handshake signatures on loopback
  # listeners (old Windows/Outlook clients), TLS 1.2+ everywhere else. Also: strict | balanced | legacy.
  client: auto
  # Upstream leg (mailshield -> mail server). strict | balanced | legacy. balanced accepts a SHA-1 handshake
  # signature when it is the best the server offers, and records a warning.
  upstream: balanced
  # Narrow, expiring relaxations for one host each. allow: sha1-handshake-signature | tls1.0 | tls1.1
  exceptions: []
  #  - host: pop.example.jp
  #    allow: [sha1-handshake-signature]
  #    until: 2027-06-30
  #    reason: ISP signs its key exchange with RSA+SHA1; ticket #1234
  # Try a stricter policy on real traffic first: every handshake is also judged under it, nothing is refused
  # because of it, and \`mailshield policy report\` lists whom it would refuse (README: "Changing a policy safely").
  # candidate: { client: strict, upstream: strict }

ca:
  extraNames: []                # more names/IPs the local CA may issue for (e.g. a LAN address)

accounts:
  # Point your mail client at "listen" instead of the real server; trust the mailshield CA (mailshield ca path).
  - name: example-pop
    protocol: pop3              # pop3 | imap | smtp
    listen: 127.0.0.1:1995
    clientTls: implicit         # implicit | starttls | none (none only for clients on this machine)
    upstream: pop.example.com:995
    upstreamTls: implicit       # implicit | starttls
    # upstreamCa: ./extra-ca.pem        # extra trust anchors for this account only
    # upstreamPin: sha256/BASE64        # accept exactly this server key (self-signed servers)
  - name: example-imap
    protocol: imap
    listen: 127.0.0.1:1993
    clientTls: implicit
    upstream: imap.example.com:993
    upstreamTls: implicit
  - name: example-smtp
    protocol: smtp
    listen: 127.0.0.1:1587
    clientTls: starttls
    upstream: smtp.example.com:587
    upstreamTls: starttls

# Intercept mode (Linux, root): shield mail clients without changing their settings. See README "Intercept mode".
intercept:
  enabled: false
  domains: []                   # e.g. [example.com]: only servers under these names are intercepted
  # hosts: {203.0.113.7: pop.example.com}   # server name for clients that send no SNI

scan:
  engines: [builtin]            # builtin needs nothing else; add clamd if clamav-daemon runs here
  onError: tempfail             # tempfail (mail stays on the server) | deliver-tagged
  # clamd:
  #   address: unix:/var/run/clamav/clamd.ctl   # or 127.0.0.1:3310

actions:
  subjectPrefix: "[virus removed] "
  addScannedHeader: false
  addTlsTraceHeader: false      # true: X-MailShield-Upstream-TLS on incoming mail (the server's TLS, as the shield saw it)

quarantine:
  retentionDays: 30

pop3:
  keepInfectedOnServer: false   # true: DELE of an infected message answers +OK but leaves it on the server

log:
  level: info

# The web dashboard: open the URL \`mailshield dashboard url\` prints (it carries the access token).
dashboard:
  enabled: true
  listen: 127.0.0.1:8025        # another address needs passwordHash (mailshield dashboard hash-password)
`;
