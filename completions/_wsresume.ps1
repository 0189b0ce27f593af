
using namespace System.Management.Automation
using namespace System.Management.Automation.Language

Register-ArgumentCompleter -Native -CommandName 'wsresume' -ScriptBlock {
    param($wordToComplete, $commandAst, $cursorPosition)

    $commandElements = $commandAst.CommandElements
    $command = @(
        'wsresume'
        for ($i = 1; $i -lt $commandElements.Count; $i++) {
            $element = $commandElements[$i]
            if ($element -isnot [StringConstantExpressionAst] -or
                $element.StringConstantType -ne [StringConstantType]::BareWord -or
                $element.Value.StartsWith('-') -or
                $element.Value -eq $wordToComplete) {
                break
        }
        $element.Value
    }) -join ';'

    $completions = @(switch ($command) {
        'wsresume' {
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Diagnostic logs on stderr: -v for connections, retries and timings, -vv for protocol details (WSRESUME_LOG overrides)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Diagnostic logs on stderr: -v for connections, retries and timings, -vv for protocol details (WSRESUME_LOG overrides)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('serve', 'serve', [CompletionResultType]::ParameterValue, 'Serve a directory: downloads from it and uploads into it')
            [CompletionResult]::new('send', 'send', [CompletionResultType]::ParameterValue, 'Upload files; a URL ending in ''/'' (or several files) names a directory')
            [CompletionResult]::new('get', 'get', [CompletionResultType]::ParameterValue, 'Download a file (with -r: a directory)')
            [CompletionResult]::new('ls', 'ls', [CompletionResultType]::ParameterValue, 'List a remote directory: name, size, modified time')
            [CompletionResult]::new('config', 'config', [CompletionResultType]::ParameterValue, 'Show the effective client settings and where each comes from')
            [CompletionResult]::new('token', 'token', [CompletionResultType]::ParameterValue, 'Print a new random token, then the [[token]] table to paste into the file of `serve --tokens`')
            [CompletionResult]::new('completions', 'completions', [CompletionResultType]::ParameterValue, 'Print a shell completion script')
            [CompletionResult]::new('man', 'man', [CompletionResultType]::ParameterValue, 'Print a man page (roff): wsresume(1), or wsresume-COMMAND(1)')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'wsresume;serve' {
            [CompletionResult]::new('--store', '--store', [CompletionResultType]::ParameterName, 'Serve an S3-compatible bucket instead of ROOT: s3://BUCKET[/PREFIX]. Credentials, region and endpoint come from the AWS environment variables (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_REGION, AWS_ENDPOINT_URL); every transfer''s state lives in the bucket, so several servers can share it')
            [CompletionResult]::new('--listen', '--listen', [CompletionResultType]::ParameterName, 'Address to listen on: HOST:PORT, [V6]:PORT, or a bare PORT for 127.0.0.1:PORT; port 0 picks a free port')
            [CompletionResult]::new('--token', '--token', [CompletionResultType]::ParameterName, 'Require this bearer token from every client')
            [CompletionResult]::new('--token-file', '--token-file', [CompletionResultType]::ParameterName, 'Read the token from FILE (one trailing newline ignored); wins over --token and WSRESUME_TOKEN')
            [CompletionResult]::new('--tokens', '--tokens', [CompletionResultType]::ParameterName, 'Accept the tokens of this TOML file, each with its own rights (read, list, write) and paths: one [[token]] table per token with name, sha256 (of the token), rights and paths (see `wsresume token`). Not with --token, --token-file or WSRESUME_TOKEN')
            [CompletionResult]::new('--tls-cert', '--tls-cert', [CompletionResultType]::ParameterName, 'Serve wss:// with this certificate chain (PEM); needs --tls-key')
            [CompletionResult]::new('--tls-key', '--tls-key', [CompletionResultType]::ParameterName, 'The private key (PEM) of --tls-cert')
            [CompletionResult]::new('--max-connections', '--max-connections', [CompletionResultType]::ParameterName, 'Concurrent connections served; more are refused with 503 (clients retry them)')
            [CompletionResult]::new('--max-file-size', '--max-file-size', [CompletionResultType]::ParameterName, 'Refuse uploads larger than SIZE (K, M, G, T suffixes) [default: no limit but the free disk space]')
            [CompletionResult]::new('--max-message-size', '--max-message-size', [CompletionResultType]::ParameterName, 'Largest WebSocket frame or message accepted (at least 260K: data frames carry up to 256 KiB)')
            [CompletionResult]::new('--handshake-timeout', '--handshake-timeout', [CompletionResultType]::ParameterName, 'Drop a client that has not finished the upgrade and sent its request within this time (seconds, or 500ms, 10s, 1m)')
            [CompletionResult]::new('--idle-timeout', '--idle-timeout', [CompletionResultType]::ParameterName, 'Drop a connection on which nothing arrives for this long (seconds, or 90s, 5m, 1h)')
            [CompletionResult]::new('--expire-uploads', '--expire-uploads', [CompletionResultType]::ParameterName, 'Remove partial uploads untouched for this long (seconds, or 90s, 30m, 12h, 7d); a client coming back to one is told and starts again')
            [CompletionResult]::new('--cache-dir', '--cache-dir', [CompletionResultType]::ParameterName, 'Keep the chaining values of files served or received in DIR (never under ROOT), so a restart does not hash them again; an empty DIR keeps them in memory only [default: the platform cache dir, ~/.cache/wsresume/serve/<ROOT''s hash>/ on Linux]')
            [CompletionResult]::new('--trusted-proxy', '--trusted-proxy', [CompletionResultType]::ParameterName, 'A reverse proxy in front, as a range (10.0.0.0/8, fd00::/8) or one address (127.0.0.1); repeatable, or a comma list. For connections from it, the logs name the client its Forwarded or X-Forwarded-For header gives (client=); other peers'' headers are ignored')
            [CompletionResult]::new('--max-protocol', '--max-protocol', [CompletionResultType]::ParameterName, 'Highest protocol version offered to clients (tests only: 1 behaves as a server without sessions)')
            [CompletionResult]::new('--read-only', '--read-only', [CompletionResultType]::ParameterName, 'Serve downloads only; refuse uploads')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Only log errors (a warning about listening beyond loopback without a token is still printed)')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Only log errors (a warning about listening beyond loopback without a token is still printed)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Diagnostic logs on stderr: -v for connections, retries and timings, -vv for protocol details (WSRESUME_LOG overrides)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Diagnostic logs on stderr: -v for connections, retries and timings, -vv for protocol details (WSRESUME_LOG overrides)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'wsresume;send' {
            [CompletionResult]::new('--token', '--token', [CompletionResultType]::ParameterName, 'Bearer token for the server [env: WSRESUME_TOKEN]')
            [CompletionResult]::new('--cacert', '--cacert', [CompletionResultType]::ParameterName, 'Also trust the CA certificates in this PEM file for wss:// (the system''s roots are always trusted). A self-signed server certificate works too if it is not a CA certificate (CA:FALSE)')
            [CompletionResult]::new('--retries', '--retries', [CompletionResultType]::ParameterName, 'Retries after the first attempt without progress; 0 never retries [default: 10] [env: WSRESUME_RETRIES]. Until a first connection succeeds, a host name that does not resolve is not retried, and a refused connection only for about 3.5 s')
            [CompletionResult]::new('--parallel', '--parallel', [CompletionResultType]::ParameterName, 'Trees: small files go over N session connections, and up to N large files move at once, 1 to 64 [default: 2] [env: WSRESUME_PARALLEL]')
            [CompletionResult]::new('--retry-max-delay', '--retry-max-delay', [CompletionResultType]::ParameterName, 'Longest wait between reconnects: seconds, or 500ms, 30s, 2m [default: 30s] [env: WSRESUME_RETRY_MAX_DELAY]')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'A connection silent for this long is dead and reconnected: seconds, or 30s, 2m [default: 30s] [env: WSRESUME_TIMEOUT]')
            [CompletionResult]::new('--chunk-size', '--chunk-size', [CompletionResultType]::ParameterName, 'Unit of verification and resume (K, M, G suffixes: 1M = 1048576) [default: 1M] [env: WSRESUME_CHUNK_SIZE]')
            [CompletionResult]::new('--limit-rate', '--limit-rate', [CompletionResultType]::ParameterName, 'Largest average speed per transfer, in bytes per second (K, M, G suffixes, like curl) [default: unlimited] [env: WSRESUME_LIMIT_RATE]')
            [CompletionResult]::new('--proxy', '--proxy', [CompletionResultType]::ParameterName, 'Reach the server through this proxy: http://[USER:PASSWORD@]HOST[:PORT] (CONNECT), socks5://... or socks5h://... (the proxy resolves the server''s name); port 1080 when none is given; an empty URL means no proxy [default: https_proxy/HTTPS_PROXY for wss://, http_proxy/HTTP_PROXY for ws://, then all_proxy/ALL_PROXY]')
            [CompletionResult]::new('--noproxy', '--noproxy', [CompletionResultType]::ParameterName, 'Hosts reached without the proxy: comma-separated names (their subdomains too), IP addresses, CIDR ranges, or * for all [env: no_proxy, NO_PROXY]')
            [CompletionResult]::new('--resolve', '--resolve', [CompletionResultType]::ParameterName, 'Connect to ADDR (or ADDR,ADDR...) instead of resolving HOST when the URL''s host is HOST and its port PORT; TLS still verifies HOST; repeatable [env: WSRESUME_RESOLVE, entries separated by spaces]')
            [CompletionResult]::new('--connect-timeout', '--connect-timeout', [CompletionResultType]::ParameterName, 'Longest time to resolve the name, open the TCP connection and pass the proxy: seconds, or 500ms, 10s; 0 for no limit of its own (--timeout still bounds the whole connection) [default: 0] [env: WSRESUME_CONNECT_TIMEOUT]')
            [CompletionResult]::new('--compress', '--compress', [CompletionResultType]::ParameterName, 'Compress data frames with zstd when the server agrees: auto (only when it makes the transfer faster, judged frame by frame), on, off [default: auto] [env: WSRESUME_COMPRESS]')
            [CompletionResult]::new('--progress', '--progress', [CompletionResultType]::ParameterName, 'How to show progress on stderr [default: bar on a terminal, plain otherwise, none with -q] [env: WSRESUME_PROGRESS]')
            [CompletionResult]::new('-r', '-r', [CompletionResultType]::ParameterName, 'Upload the directory FILE as URL/NAME/ (NAME: its name; `DIR/.` sends its contents into URL/), skipping files the server already holds identical (size and SHA-256)')
            [CompletionResult]::new('--recursive', '--recursive', [CompletionResultType]::ParameterName, 'Upload the directory FILE as URL/NAME/ (NAME: its name; `DIR/.` sends its contents into URL/), skipping files the server already holds identical (size and SHA-256)')
            [CompletionResult]::new('-p', '-p', [CompletionResultType]::ParameterName, 'Also give the uploaded files the local permission bits (the server applies rwx bits only, never setuid, setgid or sticky), as scp -p does; modification times are always kept')
            [CompletionResult]::new('--preserve', '--preserve', [CompletionResultType]::ParameterName, 'Also give the uploaded files the local permission bits (the server applies rwx bits only, never setuid, setgid or sticky), as scp -p does; modification times are always kept')
            [CompletionResult]::new('-k', '-k', [CompletionResultType]::ParameterName, 'Do not verify the server''s certificate for wss:// (the connection is still encrypted, but anyone in between can read it). Warns on every use; only a flag, never read from the environment or config file')
            [CompletionResult]::new('--insecure', '--insecure', [CompletionResultType]::ParameterName, 'Do not verify the server''s certificate for wss:// (the connection is still encrypted, but anyone in between can read it). Warns on every use; only a flag, never read from the environment or config file')
            [CompletionResult]::new('--retry-connrefused', '--retry-connrefused', [CompletionResultType]::ParameterName, 'Retry refused connections with the normal backoff even before a first connection succeeded, for a server that is still starting (like curl''s) [env: WSRESUME_RETRY_CONNREFUSED]')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'No progress, no chatter (errors still go to stderr)')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'No progress, no chatter (errors still go to stderr)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print results as JSON lines on stdout (one object per file)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Diagnostic logs on stderr: -v for connections, retries and timings, -vv for protocol details (WSRESUME_LOG overrides)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Diagnostic logs on stderr: -v for connections, retries and timings, -vv for protocol details (WSRESUME_LOG overrides)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'wsresume;get' {
            [CompletionResult]::new('--token', '--token', [CompletionResultType]::ParameterName, 'Bearer token for the server [env: WSRESUME_TOKEN]')
            [CompletionResult]::new('--cacert', '--cacert', [CompletionResultType]::ParameterName, 'Also trust the CA certificates in this PEM file for wss:// (the system''s roots are always trusted). A self-signed server certificate works too if it is not a CA certificate (CA:FALSE)')
            [CompletionResult]::new('--retries', '--retries', [CompletionResultType]::ParameterName, 'Retries after the first attempt without progress; 0 never retries [default: 10] [env: WSRESUME_RETRIES]. Until a first connection succeeds, a host name that does not resolve is not retried, and a refused connection only for about 3.5 s')
            [CompletionResult]::new('--parallel', '--parallel', [CompletionResultType]::ParameterName, 'Trees: small files go over N session connections, and up to N large files move at once, 1 to 64 [default: 2] [env: WSRESUME_PARALLEL]')
            [CompletionResult]::new('--retry-max-delay', '--retry-max-delay', [CompletionResultType]::ParameterName, 'Longest wait between reconnects: seconds, or 500ms, 30s, 2m [default: 30s] [env: WSRESUME_RETRY_MAX_DELAY]')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'A connection silent for this long is dead and reconnected: seconds, or 30s, 2m [default: 30s] [env: WSRESUME_TIMEOUT]')
            [CompletionResult]::new('--chunk-size', '--chunk-size', [CompletionResultType]::ParameterName, 'Unit of verification and resume (K, M, G suffixes: 1M = 1048576) [default: 1M] [env: WSRESUME_CHUNK_SIZE]')
            [CompletionResult]::new('--limit-rate', '--limit-rate', [CompletionResultType]::ParameterName, 'Largest average speed per transfer, in bytes per second (K, M, G suffixes, like curl) [default: unlimited] [env: WSRESUME_LIMIT_RATE]')
            [CompletionResult]::new('--proxy', '--proxy', [CompletionResultType]::ParameterName, 'Reach the server through this proxy: http://[USER:PASSWORD@]HOST[:PORT] (CONNECT), socks5://... or socks5h://... (the proxy resolves the server''s name); port 1080 when none is given; an empty URL means no proxy [default: https_proxy/HTTPS_PROXY for wss://, http_proxy/HTTP_PROXY for ws://, then all_proxy/ALL_PROXY]')
            [CompletionResult]::new('--noproxy', '--noproxy', [CompletionResultType]::ParameterName, 'Hosts reached without the proxy: comma-separated names (their subdomains too), IP addresses, CIDR ranges, or * for all [env: no_proxy, NO_PROXY]')
            [CompletionResult]::new('--resolve', '--resolve', [CompletionResultType]::ParameterName, 'Connect to ADDR (or ADDR,ADDR...) instead of resolving HOST when the URL''s host is HOST and its port PORT; TLS still verifies HOST; repeatable [env: WSRESUME_RESOLVE, entries separated by spaces]')
            [CompletionResult]::new('--connect-timeout', '--connect-timeout', [CompletionResultType]::ParameterName, 'Longest time to resolve the name, open the TCP connection and pass the proxy: seconds, or 500ms, 10s; 0 for no limit of its own (--timeout still bounds the whole connection) [default: 0] [env: WSRESUME_CONNECT_TIMEOUT]')
            [CompletionResult]::new('--compress', '--compress', [CompletionResultType]::ParameterName, 'Compress data frames with zstd when the server agrees: auto (only when it makes the transfer faster, judged frame by frame), on, off [default: auto] [env: WSRESUME_COMPRESS]')
            [CompletionResult]::new('--progress', '--progress', [CompletionResultType]::ParameterName, 'How to show progress on stderr [default: bar on a terminal, plain otherwise, none with -q] [env: WSRESUME_PROGRESS]')
            [CompletionResult]::new('-r', '-r', [CompletionResultType]::ParameterName, 'Download the directory URL as DEST/NAME/ (NAME: its last segment), skipping files already there identical (size and SHA-256); a URL naming a file is downloaded as without -r')
            [CompletionResult]::new('--recursive', '--recursive', [CompletionResultType]::ParameterName, 'Download the directory URL as DEST/NAME/ (NAME: its last segment), skipping files already there identical (size and SHA-256); a URL naming a file is downloaded as without -r')
            [CompletionResult]::new('--create-dirs', '--create-dirs', [CompletionResultType]::ParameterName, 'Create DEST''s missing directories (else a missing one is an error, reported before anything is downloaded)')
            [CompletionResult]::new('--wait', '--wait', [CompletionResultType]::ParameterName, 'When another wsresume is downloading to the same file, wait for it to finish instead of failing (exit code 1)')
            [CompletionResult]::new('-p', '-p', [CompletionResultType]::ParameterName, 'Also give the downloaded files the server''s permission bits, as scp -p does; modification times are always kept')
            [CompletionResult]::new('--preserve', '--preserve', [CompletionResultType]::ParameterName, 'Also give the downloaded files the server''s permission bits, as scp -p does; modification times are always kept')
            [CompletionResult]::new('-k', '-k', [CompletionResultType]::ParameterName, 'Do not verify the server''s certificate for wss:// (the connection is still encrypted, but anyone in between can read it). Warns on every use; only a flag, never read from the environment or config file')
            [CompletionResult]::new('--insecure', '--insecure', [CompletionResultType]::ParameterName, 'Do not verify the server''s certificate for wss:// (the connection is still encrypted, but anyone in between can read it). Warns on every use; only a flag, never read from the environment or config file')
            [CompletionResult]::new('--retry-connrefused', '--retry-connrefused', [CompletionResultType]::ParameterName, 'Retry refused connections with the normal backoff even before a first connection succeeded, for a server that is still starting (like curl''s) [env: WSRESUME_RETRY_CONNREFUSED]')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'No progress, no chatter (errors still go to stderr)')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'No progress, no chatter (errors still go to stderr)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print results as JSON lines on stdout (one object per file)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Diagnostic logs on stderr: -v for connections, retries and timings, -vv for protocol details (WSRESUME_LOG overrides)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Diagnostic logs on stderr: -v for connections, retries and timings, -vv for protocol details (WSRESUME_LOG overrides)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'wsresume;ls' {
            [CompletionResult]::new('--token', '--token', [CompletionResultType]::ParameterName, 'Bearer token for the server [env: WSRESUME_TOKEN]')
            [CompletionResult]::new('--cacert', '--cacert', [CompletionResultType]::ParameterName, 'Also trust the CA certificates in this PEM file for wss:// (the system''s roots are always trusted). A self-signed server certificate works too if it is not a CA certificate (CA:FALSE)')
            [CompletionResult]::new('--retries', '--retries', [CompletionResultType]::ParameterName, 'Retries after the first attempt without progress; 0 never retries [default: 10] [env: WSRESUME_RETRIES]. Until a first connection succeeds, a host name that does not resolve is not retried, and a refused connection only for about 3.5 s')
            [CompletionResult]::new('--parallel', '--parallel', [CompletionResultType]::ParameterName, 'Trees: small files go over N session connections, and up to N large files move at once, 1 to 64 [default: 2] [env: WSRESUME_PARALLEL]')
            [CompletionResult]::new('--retry-max-delay', '--retry-max-delay', [CompletionResultType]::ParameterName, 'Longest wait between reconnects: seconds, or 500ms, 30s, 2m [default: 30s] [env: WSRESUME_RETRY_MAX_DELAY]')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'A connection silent for this long is dead and reconnected: seconds, or 30s, 2m [default: 30s] [env: WSRESUME_TIMEOUT]')
            [CompletionResult]::new('--chunk-size', '--chunk-size', [CompletionResultType]::ParameterName, 'Unit of verification and resume (K, M, G suffixes: 1M = 1048576) [default: 1M] [env: WSRESUME_CHUNK_SIZE]')
            [CompletionResult]::new('--limit-rate', '--limit-rate', [CompletionResultType]::ParameterName, 'Largest average speed per transfer, in bytes per second (K, M, G suffixes, like curl) [default: unlimited] [env: WSRESUME_LIMIT_RATE]')
            [CompletionResult]::new('--proxy', '--proxy', [CompletionResultType]::ParameterName, 'Reach the server through this proxy: http://[USER:PASSWORD@]HOST[:PORT] (CONNECT), socks5://... or socks5h://... (the proxy resolves the server''s name); port 1080 when none is given; an empty URL means no proxy [default: https_proxy/HTTPS_PROXY for wss://, http_proxy/HTTP_PROXY for ws://, then all_proxy/ALL_PROXY]')
            [CompletionResult]::new('--noproxy', '--noproxy', [CompletionResultType]::ParameterName, 'Hosts reached without the proxy: comma-separated names (their subdomains too), IP addresses, CIDR ranges, or * for all [env: no_proxy, NO_PROXY]')
            [CompletionResult]::new('--resolve', '--resolve', [CompletionResultType]::ParameterName, 'Connect to ADDR (or ADDR,ADDR...) instead of resolving HOST when the URL''s host is HOST and its port PORT; TLS still verifies HOST; repeatable [env: WSRESUME_RESOLVE, entries separated by spaces]')
            [CompletionResult]::new('--connect-timeout', '--connect-timeout', [CompletionResultType]::ParameterName, 'Longest time to resolve the name, open the TCP connection and pass the proxy: seconds, or 500ms, 10s; 0 for no limit of its own (--timeout still bounds the whole connection) [default: 0] [env: WSRESUME_CONNECT_TIMEOUT]')
            [CompletionResult]::new('--compress', '--compress', [CompletionResultType]::ParameterName, 'Compress data frames with zstd when the server agrees: auto (only when it makes the transfer faster, judged frame by frame), on, off [default: auto] [env: WSRESUME_COMPRESS]')
            [CompletionResult]::new('--progress', '--progress', [CompletionResultType]::ParameterName, 'How to show progress on stderr [default: bar on a terminal, plain otherwise, none with -q] [env: WSRESUME_PROGRESS]')
            [CompletionResult]::new('-r', '-r', [CompletionResultType]::ParameterName, 'List files in subdirectories too (paths relative to URL)')
            [CompletionResult]::new('--recursive', '--recursive', [CompletionResultType]::ParameterName, 'List files in subdirectories too (paths relative to URL)')
            [CompletionResult]::new('--sha256', '--sha256', [CompletionResultType]::ParameterName, 'Also show each file''s SHA-256 (the server reads every file)')
            [CompletionResult]::new('-k', '-k', [CompletionResultType]::ParameterName, 'Do not verify the server''s certificate for wss:// (the connection is still encrypted, but anyone in between can read it). Warns on every use; only a flag, never read from the environment or config file')
            [CompletionResult]::new('--insecure', '--insecure', [CompletionResultType]::ParameterName, 'Do not verify the server''s certificate for wss:// (the connection is still encrypted, but anyone in between can read it). Warns on every use; only a flag, never read from the environment or config file')
            [CompletionResult]::new('--retry-connrefused', '--retry-connrefused', [CompletionResultType]::ParameterName, 'Retry refused connections with the normal backoff even before a first connection succeeded, for a server that is still starting (like curl''s) [env: WSRESUME_RETRY_CONNREFUSED]')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'No progress, no chatter (errors still go to stderr)')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'No progress, no chatter (errors still go to stderr)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print results as JSON lines on stdout (one object per file)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Diagnostic logs on stderr: -v for connections, retries and timings, -vv for protocol details (WSRESUME_LOG overrides)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Diagnostic logs on stderr: -v for connections, retries and timings, -vv for protocol details (WSRESUME_LOG overrides)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'wsresume;config' {
            [CompletionResult]::new('--token', '--token', [CompletionResultType]::ParameterName, 'Bearer token for the server [env: WSRESUME_TOKEN]')
            [CompletionResult]::new('--cacert', '--cacert', [CompletionResultType]::ParameterName, 'Also trust the CA certificates in this PEM file for wss:// (the system''s roots are always trusted). A self-signed server certificate works too if it is not a CA certificate (CA:FALSE)')
            [CompletionResult]::new('--retries', '--retries', [CompletionResultType]::ParameterName, 'Retries after the first attempt without progress; 0 never retries [default: 10] [env: WSRESUME_RETRIES]. Until a first connection succeeds, a host name that does not resolve is not retried, and a refused connection only for about 3.5 s')
            [CompletionResult]::new('--parallel', '--parallel', [CompletionResultType]::ParameterName, 'Trees: small files go over N session connections, and up to N large files move at once, 1 to 64 [default: 2] [env: WSRESUME_PARALLEL]')
            [CompletionResult]::new('--retry-max-delay', '--retry-max-delay', [CompletionResultType]::ParameterName, 'Longest wait between reconnects: seconds, or 500ms, 30s, 2m [default: 30s] [env: WSRESUME_RETRY_MAX_DELAY]')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'A connection silent for this long is dead and reconnected: seconds, or 30s, 2m [default: 30s] [env: WSRESUME_TIMEOUT]')
            [CompletionResult]::new('--chunk-size', '--chunk-size', [CompletionResultType]::ParameterName, 'Unit of verification and resume (K, M, G suffixes: 1M = 1048576) [default: 1M] [env: WSRESUME_CHUNK_SIZE]')
            [CompletionResult]::new('--limit-rate', '--limit-rate', [CompletionResultType]::ParameterName, 'Largest average speed per transfer, in bytes per second (K, M, G suffixes, like curl) [default: unlimited] [env: WSRESUME_LIMIT_RATE]')
            [CompletionResult]::new('--proxy', '--proxy', [CompletionResultType]::ParameterName, 'Reach the server through this proxy: http://[USER:PASSWORD@]HOST[:PORT] (CONNECT), socks5://... or socks5h://... (the proxy resolves the server''s name); port 1080 when none is given; an empty URL means no proxy [default: https_proxy/HTTPS_PROXY for wss://, http_proxy/HTTP_PROXY for ws://, then all_proxy/ALL_PROXY]')
            [CompletionResult]::new('--noproxy', '--noproxy', [CompletionResultType]::ParameterName, 'Hosts reached without the proxy: comma-separated names (their subdomains too), IP addresses, CIDR ranges, or * for all [env: no_proxy, NO_PROXY]')
            [CompletionResult]::new('--resolve', '--resolve', [CompletionResultType]::ParameterName, 'Connect to ADDR (or ADDR,ADDR...) instead of resolving HOST when the URL''s host is HOST and its port PORT; TLS still verifies HOST; repeatable [env: WSRESUME_RESOLVE, entries separated by spaces]')
            [CompletionResult]::new('--connect-timeout', '--connect-timeout', [CompletionResultType]::ParameterName, 'Longest time to resolve the name, open the TCP connection and pass the proxy: seconds, or 500ms, 10s; 0 for no limit of its own (--timeout still bounds the whole connection) [default: 0] [env: WSRESUME_CONNECT_TIMEOUT]')
            [CompletionResult]::new('--compress', '--compress', [CompletionResultType]::ParameterName, 'Compress data frames with zstd when the server agrees: auto (only when it makes the transfer faster, judged frame by frame), on, off [default: auto] [env: WSRESUME_COMPRESS]')
            [CompletionResult]::new('--progress', '--progress', [CompletionResultType]::ParameterName, 'How to show progress on stderr [default: bar on a terminal, plain otherwise, none with -q] [env: WSRESUME_PROGRESS]')
            [CompletionResult]::new('-k', '-k', [CompletionResultType]::ParameterName, 'Do not verify the server''s certificate for wss:// (the connection is still encrypted, but anyone in between can read it). Warns on every use; only a flag, never read from the environment or config file')
            [CompletionResult]::new('--insecure', '--insecure', [CompletionResultType]::ParameterName, 'Do not verify the server''s certificate for wss:// (the connection is still encrypted, but anyone in between can read it). Warns on every use; only a flag, never read from the environment or config file')
            [CompletionResult]::new('--retry-connrefused', '--retry-connrefused', [CompletionResultType]::ParameterName, 'Retry refused connections with the normal backoff even before a first connection succeeded, for a server that is still starting (like curl''s) [env: WSRESUME_RETRY_CONNREFUSED]')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'No progress, no chatter (errors still go to stderr)')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'No progress, no chatter (errors still go to stderr)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print results as JSON lines on stdout (one object per file)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Diagnostic logs on stderr: -v for connections, retries and timings, -vv for protocol details (WSRESUME_LOG overrides)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Diagnostic logs on stderr: -v for connections, retries and timings, -vv for protocol details (WSRESUME_LOG overrides)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'wsresume;token' {
            [CompletionResult]::new('--name', '--name', [CompletionResultType]::ParameterName, 'The token''s name in the tokens file and in the server''s logs')
            [CompletionResult]::new('--rights', '--rights', [CompletionResultType]::ParameterName, 'What it may do: a comma list of read, list, write')
            [CompletionResult]::new('--paths', '--paths', [CompletionResultType]::ParameterName, 'Where: path prefixes such as / or /ci/ (repeatable, or a comma list)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Diagnostic logs on stderr: -v for connections, retries and timings, -vv for protocol details (WSRESUME_LOG overrides)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Diagnostic logs on stderr: -v for connections, retries and timings, -vv for protocol details (WSRESUME_LOG overrides)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'wsresume;completions' {
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Diagnostic logs on stderr: -v for connections, retries and timings, -vv for protocol details (WSRESUME_LOG overrides)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Diagnostic logs on stderr: -v for connections, retries and timings, -vv for protocol details (WSRESUME_LOG overrides)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'wsresume;man' {
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Diagnostic logs on stderr: -v for connections, retries and timings, -vv for protocol details (WSRESUME_LOG overrides)')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Diagnostic logs on stderr: -v for connections, retries and timings, -vv for protocol details (WSRESUME_LOG overrides)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'wsresume;help' {
            [CompletionResult]::new('serve', 'serve', [CompletionResultType]::ParameterValue, 'Serve a directory: downloads from it and uploads into it')
            [CompletionResult]::new('send', 'send', [CompletionResultType]::ParameterValue, 'Upload files; a URL ending in ''/'' (or several files) names a directory')
            [CompletionResult]::new('get', 'get', [CompletionResultType]::ParameterValue, 'Download a file (with -r: a directory)')
            [CompletionResult]::new('ls', 'ls', [CompletionResultType]::ParameterValue, 'List a remote directory: name, size, modified time')
            [CompletionResult]::new('config', 'config', [CompletionResultType]::ParameterValue, 'Show the effective client settings and where each comes from')
            [CompletionResult]::new('token', 'token', [CompletionResultType]::ParameterValue, 'Print a new random token, then the [[token]] table to paste into the file of `serve --tokens`')
            [CompletionResult]::new('completions', 'completions', [CompletionResultType]::ParameterValue, 'Print a shell completion script')
            [CompletionResult]::new('man', 'man', [CompletionResultType]::ParameterValue, 'Print a man page (roff): wsresume(1), or wsresume-COMMAND(1)')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'wsresume;help;serve' {
            break
        }
        'wsresume;help;send' {
            break
        }
        'wsresume;help;get' {
            break
        }
        'wsresume;help;ls' {
            break
        }
        'wsresume;help;config' {
            break
        }
        'wsresume;help;token' {
            break
        }
        'wsresume;help;completions' {
            break
        }
        'wsresume;help;man' {
            break
        }
        'wsresume;help;help' {
            break
        }
    })

    $completions.Where{ $_.CompletionText -like "$wordToComplete*" } |
        Sort-Object -Property ListItemText
}
