
use builtin;
use str;

set edit:completion:arg-completer[wsresume] = {|@words|
    fn spaces {|n|
        builtin:repeat $n ' ' | str:join ''
    }
    fn cand {|text desc|
        edit:complex-candidate $text &display=$text' '(spaces (- 14 (wcswidth $text)))$desc
    }
    var command = 'wsresume'
    for word $words[1..-1] {
        if (str:has-prefix $word '-') {
            break
        }
        set command = $command';'$word
    }
    var completions = [
        &'wsresume'= {
            cand -v 'Diagnostic logs on stderr: -v for connections, retries and timings, -vv for protocol details (WSRESUME_LOG overrides)'
            cand --verbose 'Diagnostic logs on stderr: -v for connections, retries and timings, -vv for protocol details (WSRESUME_LOG overrides)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
            cand serve 'Serve a directory: downloads from it and uploads into it'
            cand send 'Upload files; a URL ending in ''/'' (or several files) names a directory'
            cand get 'Download a file (with -r: a directory)'
            cand ls 'List a remote directory: name, size, modified time'
            cand config 'Show the effective client settings and where each comes from'
            cand token 'Print a new random token, then the [[token]] table to paste into the file of `serve --tokens`'
            cand completions 'Print a shell completion script'
            cand man 'Print a man page (roff): wsresume(1), or wsresume-COMMAND(1)'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'wsresume;serve'= {
            cand --store 'Serve an S3-compatible bucket instead of ROOT: s3://BUCKET[/PREFIX]. Credentials, region and endpoint come from the AWS environment variables (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_REGION, AWS_ENDPOINT_URL); every transfer''s state lives in the bucket, so several servers can share it'
            cand --listen 'Address to listen on: HOST:PORT, [V6]:PORT, or a bare PORT for 127.0.0.1:PORT; port 0 picks a free port'
            cand --token 'Require this bearer token from every client'
            cand --token-file 'Read the token from FILE (one trailing newline ignored); wins over --token and WSRESUME_TOKEN'
            cand --tokens 'Accept the tokens of this TOML file, each with its own rights (read, list, write) and paths: one [[token]] table per token with name, sha256 (of the token), rights and paths (see `wsresume token`). Not with --token, --token-file or WSRESUME_TOKEN'
            cand --tls-cert 'Serve wss:// with this certificate chain (PEM); needs --tls-key'
            cand --tls-key 'The private key (PEM) of --tls-cert'
            cand --max-connections 'Concurrent connections served; more are refused with 503 (clients retry them)'
            cand --max-file-size 'Refuse uploads larger than SIZE (K, M, G, T suffixes) [default: no limit but the free disk space]'
            cand --max-message-size 'Largest WebSocket frame or message accepted (at least 260K: data frames carry up to 256 KiB)'
            cand --handshake-timeout 'Drop a client that has not finished the upgrade and sent its request within this time (seconds, or 500ms, 10s, 1m)'
            cand --idle-timeout 'Drop a connection on which nothing arrives for this long (seconds, or 90s, 5m, 1h)'
            cand --expire-uploads 'Remove partial uploads untouched for this long (seconds, or 90s, 30m, 12h, 7d); a client coming back to one is told and starts again'
            cand --cache-dir 'Keep the chaining values of files served or received in DIR (never under ROOT), so a restart does not hash them again; an empty DIR keeps them in memory only [default: the platform cache dir, ~/.cache/wsresume/serve/<ROOT''s hash>/ on Linux]'
            cand --trusted-proxy 'A reverse proxy in front, as a range (10.0.0.0/8, fd00::/8) or one address (127.0.0.1); repeatable, or a comma list. For connections from it, the logs name the client its Forwarded or X-Forwarded-For header gives (client=); other peers'' headers are ignored'
            cand --max-protocol 'Highest protocol version offered to clients (tests only: 1 behaves as a server without sessions)'
            cand --read-only 'Serve downloads only; refuse uploads'
            cand -q 'Only log errors (a warning about listening beyond loopback without a token is still printed)'
            cand --quiet 'Only log errors (a warning about listening beyond loopback without a token is still printed)'
            cand -v 'Diagnostic logs on stderr: -v for connections, retries and timings, -vv for protocol details (WSRESUME_LOG overrides)'
            cand --verbose 'Diagnostic logs on stderr: -v for connections, retries and timings, -vv for protocol details (WSRESUME_LOG overrides)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'wsresume;send'= {
            cand --token 'Bearer token for the server [env: WSRESUME_TOKEN]'
            cand --cacert 'Also trust the CA certificates in this PEM file for wss:// (the system''s roots are always trusted). A self-signed server certificate works too if it is not a CA certificate (CA:FALSE)'
            cand --retries 'Retries after the first attempt without progress; 0 never retries [default: 10] [env: WSRESUME_RETRIES]. Until a first connection succeeds, a host name that does not resolve is not retried, and a refused connection only for about 3.5 s'
            cand --parallel 'Trees: small files go over N session connections, and up to N large files move at once, 1 to 64 [default: 2] [env: WSRESUME_PARALLEL]'
            cand --retry-max-delay 'Longest wait between reconnects: seconds, or 500ms, 30s, 2m [default: 30s] [env: WSRESUME_RETRY_MAX_DELAY]'
            cand --timeout 'A connection silent for this long is dead and reconnected: seconds, or 30s, 2m [default: 30s] [env: WSRESUME_TIMEOUT]'
            cand --chunk-size 'Unit of verification and resume (K, M, G suffixes: 1M = 1048576) [default: 1M] [env: WSRESUME_CHUNK_SIZE]'
            cand --limit-rate 'Largest average speed per transfer, in bytes per second (K, M, G suffixes, like curl) [default: unlimited] [env: WSRESUME_LIMIT_RATE]'
            cand --proxy 'Reach the server through this proxy: http://[USER:PASSWORD@]HOST[:PORT] (CONNECT), socks5://... or socks5h://... (the proxy resolves the server''s name); port 1080 when none is given; an empty URL means no proxy [default: https_proxy/HTTPS_PROXY for wss://, http_proxy/HTTP_PROXY for ws://, then all_proxy/ALL_PROXY]'
            cand --noproxy 'Hosts reached without the proxy: comma-separated names (their subdomains too), IP addresses, CIDR ranges, or * for all [env: no_proxy, NO_PROXY]'
            cand --resolve 'Connect to ADDR (or ADDR,ADDR...) instead of resolving HOST when the URL''s host is HOST and its port PORT; TLS still verifies HOST; repeatable [env: WSRESUME_RESOLVE, entries separated by spaces]'
            cand --connect-timeout 'Longest time to resolve the name, open the TCP connection and pass the proxy: seconds, or 500ms, 10s; 0 for no limit of its own (--timeout still bounds the whole connection) [default: 0] [env: WSRESUME_CONNECT_TIMEOUT]'
            cand --compress 'Compress data frames with zstd when the server agrees: auto (only when it makes the transfer faster, judged frame by frame), on, off [default: auto] [env: WSRESUME_COMPRESS]'
            cand --progress 'How to show progress on stderr [default: bar on a terminal, plain otherwise, none with -q] [env: WSRESUME_PROGRESS]'
            cand -r 'Upload the directory FILE as URL/NAME/ (NAME: its name; `DIR/.` sends its contents into URL/), skipping files the server already holds identical (size and SHA-256)'
            cand --recursive 'Upload the directory FILE as URL/NAME/ (NAME: its name; `DIR/.` sends its contents into URL/), skipping files the server already holds identical (size and SHA-256)'
            cand -p 'Also give the uploaded files the local permission bits (the server applies rwx bits only, never setuid, setgid or sticky), as scp -p does; modification times are always kept'
            cand --preserve 'Also give the uploaded files the local permission bits (the server applies rwx bits only, never setuid, setgid or sticky), as scp -p does; modification times are always kept'
            cand -k 'Do not verify the server''s certificate for wss:// (the connection is still encrypted, but anyone in between can read it). Warns on every use; only a flag, never read from the environment or config file'
            cand --insecure 'Do not verify the server''s certificate for wss:// (the connection is still encrypted, but anyone in between can read it). Warns on every use; only a flag, never read from the environment or config file'
            cand --retry-connrefused 'Retry refused connections with the normal backoff even before a first connection succeeded, for a server that is still starting (like curl''s) [env: WSRESUME_RETRY_CONNREFUSED]'
            cand -q 'No progress, no chatter (errors still go to stderr)'
            cand --quiet 'No progress, no chatter (errors still go to stderr)'
            cand --json 'Print results as JSON lines on stdout (one object per file)'
            cand -v 'Diagnostic logs on stderr: -v for connections, retries and timings, -vv for protocol details (WSRESUME_LOG overrides)'
            cand --verbose 'Diagnostic logs on stderr: -v for connections, retries and timings, -vv for protocol details (WSRESUME_LOG overrides)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'wsresume;get'= {
            cand --token 'Bearer token for the server [env: WSRESUME_TOKEN]'
            cand --cacert 'Also trust the CA certificates in this PEM file for wss:// (the system''s roots are always trusted). A self-signed server certificate works too if it is not a CA certificate (CA:FALSE)'
            cand --retries 'Retries after the first attempt without progress; 0 never retries [default: 10] [env: WSRESUME_RETRIES]. Until a first connection succeeds, a host name that does not resolve is not retried, and a refused connection only for about 3.5 s'
            cand --parallel 'Trees: small files go over N session connections, and up to N large files move at once, 1 to 64 [default: 2] [env: WSRESUME_PARALLEL]'
            cand --retry-max-delay 'Longest wait between reconnects: seconds, or 500ms, 30s, 2m [default: 30s] [env: WSRESUME_RETRY_MAX_DELAY]'
            cand --timeout 'A connection silent for this long is dead and reconnected: seconds, or 30s, 2m [default: 30s] [env: WSRESUME_TIMEOUT]'
            cand --chunk-size 'Unit of verification and resume (K, M, G suffixes: 1M = 1048576) [default: 1M] [env: WSRESUME_CHUNK_SIZE]'
            cand --limit-rate 'Largest average speed per transfer, in bytes per second (K, M, G suffixes, like curl) [default: unlimited] [env: WSRESUME_LIMIT_RATE]'
            cand --proxy 'Reach the server through this proxy: http://[USER:PASSWORD@]HOST[:PORT] (CONNECT), socks5://... or socks5h://... (the proxy resolves the server''s name); port 1080 when none is given; an empty URL means no proxy [default: https_proxy/HTTPS_PROXY for wss://, http_proxy/HTTP_PROXY for ws://, then all_proxy/ALL_PROXY]'
            cand --noproxy 'Hosts reached without the proxy: comma-separated names (their subdomains too), IP addresses, CIDR ranges, or * for all [env: no_proxy, NO_PROXY]'
            cand --resolve 'Connect to ADDR (or ADDR,ADDR...) instead of resolving HOST when the URL''s host is HOST and its port PORT; TLS still verifies HOST; repeatable [env: WSRESUME_RESOLVE, entries separated by spaces]'
            cand --connect-timeout 'Longest time to resolve the name, open the TCP connection and pass the proxy: seconds, or 500ms, 10s; 0 for no limit of its own (--timeout still bounds the whole connection) [default: 0] [env: WSRESUME_CONNECT_TIMEOUT]'
            cand --compress 'Compress data frames with zstd when the server agrees: auto (only when it makes the transfer faster, judged frame by frame), on, off [default: auto] [env: WSRESUME_COMPRESS]'
            cand --progress 'How to show progress on stderr [default: bar on a terminal, plain otherwise, none with -q] [env: WSRESUME_PROGRESS]'
            cand -r 'Download the directory URL as DEST/NAME/ (NAME: its last segment), skipping files already there identical (size and SHA-256); a URL naming a file is downloaded as without -r'
            cand --recursive 'Download the directory URL as DEST/NAME/ (NAME: its last segment), skipping files already there identical (size and SHA-256); a URL naming a file is downloaded as without -r'
            cand --create-dirs 'Create DEST''s missing directories (else a missing one is an error, reported before anything is downloaded)'
            cand --wait 'When another wsresume is downloading to the same file, wait for it to finish instead of failing (exit code 1)'
            cand -p 'Also give the downloaded files the server''s permission bits, as scp -p does; modification times are always kept'
            cand --preserve 'Also give the downloaded files the server''s permission bits, as scp -p does; modification times are always kept'
            cand -k 'Do not verify the server''s certificate for wss:// (the connection is still encrypted, but anyone in between can read it). Warns on every use; only a flag, never read from the environment or config file'
            cand --insecure 'Do not verify the server''s certificate for wss:// (the connection is still encrypted, but anyone in between can read it). Warns on every use; only a flag, never read from the environment or config file'
            cand --retry-connrefused 'Retry refused connections with the normal backoff even before a first connection succeeded, for a server that is still starting (like curl''s) [env: WSRESUME_RETRY_CONNREFUSED]'
            cand -q 'No progress, no chatter (errors still go to stderr)'
            cand --quiet 'No progress, no chatter (errors still go to stderr)'
            cand --json 'Print results as JSON lines on stdout (one object per file)'
            cand -v 'Diagnostic logs on stderr: -v for connections, retries and timings, -vv for protocol details (WSRESUME_LOG overrides)'
            cand --verbose 'Diagnostic logs on stderr: -v for connections, retries and timings, -vv for protocol details (WSRESUME_LOG overrides)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'wsresume;ls'= {
            cand --token 'Bearer token for the server [env: WSRESUME_TOKEN]'
            cand --cacert 'Also trust the CA certificates in this PEM file for wss:// (the system''s roots are always trusted). A self-signed server certificate works too if it is not a CA certificate (CA:FALSE)'
            cand --retries 'Retries after the first attempt without progress; 0 never retries [default: 10] [env: WSRESUME_RETRIES]. Until a first connection succeeds, a host name that does not resolve is not retried, and a refused connection only for about 3.5 s'
            cand --parallel 'Trees: small files go over N session connections, and up to N large files move at once, 1 to 64 [default: 2] [env: WSRESUME_PARALLEL]'
            cand --retry-max-delay 'Longest wait between reconnects: seconds, or 500ms, 30s, 2m [default: 30s] [env: WSRESUME_RETRY_MAX_DELAY]'
            cand --timeout 'A connection silent for this long is dead and reconnected: seconds, or 30s, 2m [default: 30s] [env: WSRESUME_TIMEOUT]'
            cand --chunk-size 'Unit of verification and resume (K, M, G suffixes: 1M = 1048576) [default: 1M] [env: WSRESUME_CHUNK_SIZE]'
            cand --limit-rate 'Largest average speed per transfer, in bytes per second (K, M, G suffixes, like curl) [default: unlimited] [env: WSRESUME_LIMIT_RATE]'
            cand --proxy 'Reach the server through this proxy: http://[USER:PASSWORD@]HOST[:PORT] (CONNECT), socks5://... or socks5h://... (the proxy resolves the server''s name); port 1080 when none is given; an empty URL means no proxy [default: https_proxy/HTTPS_PROXY for wss://, http_proxy/HTTP_PROXY for ws://, then all_proxy/ALL_PROXY]'
            cand --noproxy 'Hosts reached without the proxy: comma-separated names (their subdomains too), IP addresses, CIDR ranges, or * for all [env: no_proxy, NO_PROXY]'
            cand --resolve 'Connect to ADDR (or ADDR,ADDR...) instead of resolving HOST when the URL''s host is HOST and its port PORT; TLS still verifies HOST; repeatable [env: WSRESUME_RESOLVE, entries separated by spaces]'
            cand --connect-timeout 'Longest time to resolve the name, open the TCP connection and pass the proxy: seconds, or 500ms, 10s; 0 for no limit of its own (--timeout still bounds the whole connection) [default: 0] [env: WSRESUME_CONNECT_TIMEOUT]'
            cand --compress 'Compress data frames with zstd when the server agrees: auto (only when it makes the transfer faster, judged frame by frame), on, off [default: auto] [env: WSRESUME_COMPRESS]'
            cand --progress 'How to show progress on stderr [default: bar on a terminal, plain otherwise, none with -q] [env: WSRESUME_PROGRESS]'
            cand -r 'List files in subdirectories too (paths relative to URL)'
            cand --recursive 'List files in subdirectories too (paths relative to URL)'
            cand --sha256 'Also show each file''s SHA-256 (the server reads every file)'
            cand -k 'Do not verify the server''s certificate for wss:// (the connection is still encrypted, but anyone in between can read it). Warns on every use; only a flag, never read from the environment or config file'
            cand --insecure 'Do not verify the server''s certificate for wss:// (the connection is still encrypted, but anyone in between can read it). Warns on every use; only a flag, never read from the environment or config file'
            cand --retry-connrefused 'Retry refused connections with the normal backoff even before a first connection succeeded, for a server that is still starting (like curl''s) [env: WSRESUME_RETRY_CONNREFUSED]'
            cand -q 'No progress, no chatter (errors still go to stderr)'
            cand --quiet 'No progress, no chatter (errors still go to stderr)'
            cand --json 'Print results as JSON lines on stdout (one object per file)'
            cand -v 'Diagnostic logs on stderr: -v for connections, retries and timings, -vv for protocol details (WSRESUME_LOG overrides)'
            cand --verbose 'Diagnostic logs on stderr: -v for connections, retries and timings, -vv for protocol details (WSRESUME_LOG overrides)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'wsresume;config'= {
            cand --token 'Bearer token for the server [env: WSRESUME_TOKEN]'
            cand --cacert 'Also trust the CA certificates in this PEM file for wss:// (the system''s roots are always trusted). A self-signed server certificate works too if it is not a CA certificate (CA:FALSE)'
            cand --retries 'Retries after the first attempt without progress; 0 never retries [default: 10] [env: WSRESUME_RETRIES]. Until a first connection succeeds, a host name that does not resolve is not retried, and a refused connection only for about 3.5 s'
            cand --parallel 'Trees: small files go over N session connections, and up to N large files move at once, 1 to 64 [default: 2] [env: WSRESUME_PARALLEL]'
            cand --retry-max-delay 'Longest wait between reconnects: seconds, or 500ms, 30s, 2m [default: 30s] [env: WSRESUME_RETRY_MAX_DELAY]'
            cand --timeout 'A connection silent for this long is dead and reconnected: seconds, or 30s, 2m [default: 30s] [env: WSRESUME_TIMEOUT]'
            cand --chunk-size 'Unit of verification and resume (K, M, G suffixes: 1M = 1048576) [default: 1M] [env: WSRESUME_CHUNK_SIZE]'
            cand --limit-rate 'Largest average speed per transfer, in bytes per second (K, M, G suffixes, like curl) [default: unlimited] [env: WSRESUME_LIMIT_RATE]'
            cand --proxy 'Reach the server through this proxy: http://[USER:PASSWORD@]HOST[:PORT] (CONNECT), socks5://... or socks5h://... (the proxy resolves the server''s name); port 1080 when none is given; an empty URL means no proxy [default: https_proxy/HTTPS_PROXY for wss://, http_proxy/HTTP_PROXY for ws://, then all_proxy/ALL_PROXY]'
            cand --noproxy 'Hosts reached without the proxy: comma-separated names (their subdomains too), IP addresses, CIDR ranges, or * for all [env: no_proxy, NO_PROXY]'
            cand --resolve 'Connect to ADDR (or ADDR,ADDR...) instead of resolving HOST when the URL''s host is HOST and its port PORT; TLS still verifies HOST; repeatable [env: WSRESUME_RESOLVE, entries separated by spaces]'
            cand --connect-timeout 'Longest time to resolve the name, open the TCP connection and pass the proxy: seconds, or 500ms, 10s; 0 for no limit of its own (--timeout still bounds the whole connection) [default: 0] [env: WSRESUME_CONNECT_TIMEOUT]'
            cand --compress 'Compress data frames with zstd when the server agrees: auto (only when it makes the transfer faster, judged frame by frame), on, off [default: auto] [env: WSRESUME_COMPRESS]'
            cand --progress 'How to show progress on stderr [default: bar on a terminal, plain otherwise, none with -q] [env: WSRESUME_PROGRESS]'
            cand -k 'Do not verify the server''s certificate for wss:// (the connection is still encrypted, but anyone in between can read it). Warns on every use; only a flag, never read from the environment or config file'
            cand --insecure 'Do not verify the server''s certificate for wss:// (the connection is still encrypted, but anyone in between can read it). Warns on every use; only a flag, never read from the environment or config file'
            cand --retry-connrefused 'Retry refused connections with the normal backoff even before a first connection succeeded, for a server that is still starting (like curl''s) [env: WSRESUME_RETRY_CONNREFUSED]'
            cand -q 'No progress, no chatter (errors still go to stderr)'
            cand --quiet 'No progress, no chatter (errors still go to stderr)'
            cand --json 'Print results as JSON lines on stdout (one object per file)'
            cand -v 'Diagnostic logs on stderr: -v for connections, retries and timings, -vv for protocol details (WSRESUME_LOG overrides)'
            cand --verbose 'Diagnostic logs on stderr: -v for connections, retries and timings, -vv for protocol details (WSRESUME_LOG overrides)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'wsresume;token'= {
            cand --name 'The token''s name in the tokens file and in the server''s logs'
            cand --rights 'What it may do: a comma list of read, list, write'
            cand --paths 'Where: path prefixes such as / or /ci/ (repeatable, or a comma list)'
            cand -v 'Diagnostic logs on stderr: -v for connections, retries and timings, -vv for protocol details (WSRESUME_LOG overrides)'
            cand --verbose 'Diagnostic logs on stderr: -v for connections, retries and timings, -vv for protocol details (WSRESUME_LOG overrides)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'wsresume;completions'= {
            cand -v 'Diagnostic logs on stderr: -v for connections, retries and timings, -vv for protocol details (WSRESUME_LOG overrides)'
            cand --verbose 'Diagnostic logs on stderr: -v for connections, retries and timings, -vv for protocol details (WSRESUME_LOG overrides)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'wsresume;man'= {
            cand -v 'Diagnostic logs on stderr: -v for connections, retries and timings, -vv for protocol details (WSRESUME_LOG overrides)'
            cand --verbose 'Diagnostic logs on stderr: -v for connections, retries and timings, -vv for protocol details (WSRESUME_LOG overrides)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'wsresume;help'= {
            cand serve 'Serve a directory: downloads from it and uploads into it'
            cand send 'Upload files; a URL ending in ''/'' (or several files) names a directory'
            cand get 'Download a file (with -r: a directory)'
            cand ls 'List a remote directory: name, size, modified time'
            cand config 'Show the effective client settings and where each comes from'
            cand token 'Print a new random token, then the [[token]] table to paste into the file of `serve --tokens`'
            cand completions 'Print a shell completion script'
            cand man 'Print a man page (roff): wsresume(1), or wsresume-COMMAND(1)'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'wsresume;help;serve'= {
        }
        &'wsresume;help;send'= {
        }
        &'wsresume;help;get'= {
        }
        &'wsresume;help;ls'= {
        }
        &'wsresume;help;config'= {
        }
        &'wsresume;help;token'= {
        }
        &'wsresume;help;completions'= {
        }
        &'wsresume;help;man'= {
        }
        &'wsresume;help;help'= {
        }
    ]
    $completions[$command]
}
