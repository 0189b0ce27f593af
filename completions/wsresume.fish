# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_wsresume_global_optspecs
    string join \n v/verbose h/help V/version
end

function __fish_wsresume_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_wsresume_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_wsresume_using_subcommand
    set -l cmd (__fish_wsresume_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c wsresume -n "__fish_wsresume_needs_command" -s v -l verbose -d 'Diagnostic logs on stderr: -v for connections, retries and timings, -vv for protocol details (WSRESUME_LOG overrides)'
complete -c wsresume -n "__fish_wsresume_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c wsresume -n "__fish_wsresume_needs_command" -s V -l version -d 'Print version'
complete -c wsresume -n "__fish_wsresume_needs_command" -f -a "serve" -d 'Serve a directory: downloads from it and uploads into it'
complete -c wsresume -n "__fish_wsresume_needs_command" -f -a "send" -d 'Upload files; a URL ending in \'/\' (or several files) names a directory'
complete -c wsresume -n "__fish_wsresume_needs_command" -f -a "get" -d 'Download a file (with -r: a directory)'
complete -c wsresume -n "__fish_wsresume_needs_command" -f -a "ls" -d 'List a remote directory: name, size, modified time'
complete -c wsresume -n "__fish_wsresume_needs_command" -f -a "config" -d 'Show the effective client settings and where each comes from'
complete -c wsresume -n "__fish_wsresume_needs_command" -f -a "token" -d 'Print a new random token, then the [[token]] table to paste into the file of `serve --tokens`'
complete -c wsresume -n "__fish_wsresume_needs_command" -f -a "completions" -d 'Print a shell completion script'
complete -c wsresume -n "__fish_wsresume_needs_command" -f -a "man" -d 'Print a man page (roff): wsresume(1), or wsresume-COMMAND(1)'
complete -c wsresume -n "__fish_wsresume_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c wsresume -n "__fish_wsresume_using_subcommand serve" -l store -d 'Serve an S3-compatible bucket instead of ROOT: s3://BUCKET[/PREFIX]. Credentials, region and endpoint come from the AWS environment variables (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_REGION, AWS_ENDPOINT_URL); every transfer\'s state lives in the bucket, so several servers can share it' -r
complete -c wsresume -n "__fish_wsresume_using_subcommand serve" -l listen -d 'Address to listen on: HOST:PORT, [V6]:PORT, or a bare PORT for 127.0.0.1:PORT; port 0 picks a free port' -r
complete -c wsresume -n "__fish_wsresume_using_subcommand serve" -l token -d 'Require this bearer token from every client' -r
complete -c wsresume -n "__fish_wsresume_using_subcommand serve" -l token-file -d 'Read the token from FILE (one trailing newline ignored); wins over --token and WSRESUME_TOKEN' -r -F
complete -c wsresume -n "__fish_wsresume_using_subcommand serve" -l tokens -d 'Accept the tokens of this TOML file, each with its own rights (read, list, write) and paths: one [[token]] table per token with name, sha256 (of the token), rights and paths (see `wsresume token`). Not with --token, --token-file or WSRESUME_TOKEN' -r -F
complete -c wsresume -n "__fish_wsresume_using_subcommand serve" -l tls-cert -d 'Serve wss:// with this certificate chain (PEM); needs --tls-key' -r -F
complete -c wsresume -n "__fish_wsresume_using_subcommand serve" -l tls-key -d 'The private key (PEM) of --tls-cert' -r -F
complete -c wsresume -n "__fish_wsresume_using_subcommand serve" -l max-connections -d 'Concurrent connections served; more are refused with 503 (clients retry them)' -r
complete -c wsresume -n "__fish_wsresume_using_subcommand serve" -l max-file-size -d 'Refuse uploads larger than SIZE (K, M, G, T suffixes) [default: no limit but the free disk space]' -r
complete -c wsresume -n "__fish_wsresume_using_subcommand serve" -l max-message-size -d 'Largest WebSocket frame or message accepted (at least 260K: data frames carry up to 256 KiB)' -r
complete -c wsresume -n "__fish_wsresume_using_subcommand serve" -l handshake-timeout -d 'Drop a client that has not finished the upgrade and sent its request within this time (seconds, or 500ms, 10s, 1m)' -r
complete -c wsresume -n "__fish_wsresume_using_subcommand serve" -l idle-timeout -d 'Drop a connection on which nothing arrives for this long (seconds, or 90s, 5m, 1h)' -r
complete -c wsresume -n "__fish_wsresume_using_subcommand serve" -l expire-uploads -d 'Remove partial uploads untouched for this long (seconds, or 90s, 30m, 12h, 7d); a client coming back to one is told and starts again' -r
complete -c wsresume -n "__fish_wsresume_using_subcommand serve" -l cache-dir -d 'Keep the chaining values of files served or received in DIR (never under ROOT), so a restart does not hash them again; an empty DIR keeps them in memory only [default: the platform cache dir, ~/.cache/wsresume/serve/<ROOT\'s hash>/ on Linux]' -r -F
complete -c wsresume -n "__fish_wsresume_using_subcommand serve" -l trusted-proxy -d 'A reverse proxy in front, as a range (10.0.0.0/8, fd00::/8) or one address (127.0.0.1); repeatable, or a comma list. For connections from it, the logs name the client its Forwarded or X-Forwarded-For header gives (client=); other peers\' headers are ignored' -r
complete -c wsresume -n "__fish_wsresume_using_subcommand serve" -l max-protocol -d 'Highest protocol version offered to clients (tests only: 1 behaves as a server without sessions)' -r
complete -c wsresume -n "__fish_wsresume_using_subcommand serve" -l read-only -d 'Serve downloads only; refuse uploads'
complete -c wsresume -n "__fish_wsresume_using_subcommand serve" -s q -l quiet -d 'Only log errors (a warning about listening beyond loopback without a token is still printed)'
complete -c wsresume -n "__fish_wsresume_using_subcommand serve" -s v -l verbose -d 'Diagnostic logs on stderr: -v for connections, retries and timings, -vv for protocol details (WSRESUME_LOG overrides)'
complete -c wsresume -n "__fish_wsresume_using_subcommand serve" -s h -l help -d 'Print help'
complete -c wsresume -n "__fish_wsresume_using_subcommand serve" -s V -l version -d 'Print version'
complete -c wsresume -n "__fish_wsresume_using_subcommand send" -l token -d 'Bearer token for the server [env: WSRESUME_TOKEN]' -r
complete -c wsresume -n "__fish_wsresume_using_subcommand send" -l cacert -d 'Also trust the CA certificates in this PEM file for wss:// (the system\'s roots are always trusted). A self-signed server certificate works too if it is not a CA certificate (CA:FALSE)' -r -F
complete -c wsresume -n "__fish_wsresume_using_subcommand send" -l retries -d 'Retries after the first attempt without progress; 0 never retries [default: 10] [env: WSRESUME_RETRIES]. Until a first connection succeeds, a host name that does not resolve is not retried, and a refused connection only for about 3.5 s' -r
complete -c wsresume -n "__fish_wsresume_using_subcommand send" -l parallel -d 'Trees: small files go over N session connections, and up to N large files move at once, 1 to 64 [default: 2] [env: WSRESUME_PARALLEL]' -r
complete -c wsresume -n "__fish_wsresume_using_subcommand send" -l retry-max-delay -d 'Longest wait between reconnects: seconds, or 500ms, 30s, 2m [default: 30s] [env: WSRESUME_RETRY_MAX_DELAY]' -r
complete -c wsresume -n "__fish_wsresume_using_subcommand send" -l timeout -d 'A connection silent for this long is dead and reconnected: seconds, or 30s, 2m [default: 30s] [env: WSRESUME_TIMEOUT]' -r
complete -c wsresume -n "__fish_wsresume_using_subcommand send" -l chunk-size -d 'Unit of verification and resume (K, M, G suffixes: 1M = 1048576) [default: 1M] [env: WSRESUME_CHUNK_SIZE]' -r
complete -c wsresume -n "__fish_wsresume_using_subcommand send" -l limit-rate -d 'Largest average speed per transfer, in bytes per second (K, M, G suffixes, like curl) [default: unlimited] [env: WSRESUME_LIMIT_RATE]' -r
complete -c wsresume -n "__fish_wsresume_using_subcommand send" -l proxy -d 'Reach the server through this proxy: http://[USER:PASSWORD@]HOST[:PORT] (CONNECT), socks5://... or socks5h://... (the proxy resolves the server\'s name); port 1080 when none is given; an empty URL means no proxy [default: https_proxy/HTTPS_PROXY for wss://, http_proxy/HTTP_PROXY for ws://, then all_proxy/ALL_PROXY]' -r
complete -c wsresume -n "__fish_wsresume_using_subcommand send" -l noproxy -d 'Hosts reached without the proxy: comma-separated names (their subdomains too), IP addresses, CIDR ranges, or * for all [env: no_proxy, NO_PROXY]' -r
complete -c wsresume -n "__fish_wsresume_using_subcommand send" -l resolve -d 'Connect to ADDR (or ADDR,ADDR...) instead of resolving HOST when the URL\'s host is HOST and its port PORT; TLS still verifies HOST; repeatable [env: WSRESUME_RESOLVE, entries separated by spaces]' -r
complete -c wsresume -n "__fish_wsresume_using_subcommand send" -l connect-timeout -d 'Longest time to resolve the name, open the TCP connection and pass the proxy: seconds, or 500ms, 10s; 0 for no limit of its own (--timeout still bounds the whole connection) [default: 0] [env: WSRESUME_CONNECT_TIMEOUT]' -r
complete -c wsresume -n "__fish_wsresume_using_subcommand send" -l compress -d 'Compress data frames with zstd when the server agrees: auto (only when it makes the transfer faster, judged frame by frame), on, off [default: auto] [env: WSRESUME_COMPRESS]' -r
complete -c wsresume -n "__fish_wsresume_using_subcommand send" -l progress -d 'How to show progress on stderr [default: bar on a terminal, plain otherwise, none with -q] [env: WSRESUME_PROGRESS]' -r -f -a "none\t'No progress output'
bar\t'Progress bars (drawn only on a terminal)'
plain\t'A short line every few seconds or every 10 %, for logs'"
complete -c wsresume -n "__fish_wsresume_using_subcommand send" -s r -l recursive -d 'Upload the directory FILE as URL/NAME/ (NAME: its name; `DIR/.` sends its contents into URL/), skipping files the server already holds identical (size and SHA-256)'
complete -c wsresume -n "__fish_wsresume_using_subcommand send" -s p -l preserve -d 'Also give the uploaded files the local permission bits (the server applies rwx bits only, never setuid, setgid or sticky), as scp -p does; modification times are always kept'
complete -c wsresume -n "__fish_wsresume_using_subcommand send" -s k -l insecure -d 'Do not verify the server\'s certificate for wss:// (the connection is still encrypted, but anyone in between can read it). Warns on every use; only a flag, never read from the environment or config file'
complete -c wsresume -n "__fish_wsresume_using_subcommand send" -l retry-connrefused -d 'Retry refused connections with the normal backoff even before a first connection succeeded, for a server that is still starting (like curl\'s) [env: WSRESUME_RETRY_CONNREFUSED]'
complete -c wsresume -n "__fish_wsresume_using_subcommand send" -s q -l quiet -d 'No progress, no chatter (errors still go to stderr)'
complete -c wsresume -n "__fish_wsresume_using_subcommand send" -l json -d 'Print results as JSON lines on stdout (one object per file)'
complete -c wsresume -n "__fish_wsresume_using_subcommand send" -s v -l verbose -d 'Diagnostic logs on stderr: -v for connections, retries and timings, -vv for protocol details (WSRESUME_LOG overrides)'
complete -c wsresume -n "__fish_wsresume_using_subcommand send" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c wsresume -n "__fish_wsresume_using_subcommand send" -s V -l version -d 'Print version'
complete -c wsresume -n "__fish_wsresume_using_subcommand get" -l token -d 'Bearer token for the server [env: WSRESUME_TOKEN]' -r
complete -c wsresume -n "__fish_wsresume_using_subcommand get" -l cacert -d 'Also trust the CA certificates in this PEM file for wss:// (the system\'s roots are always trusted). A self-signed server certificate works too if it is not a CA certificate (CA:FALSE)' -r -F
complete -c wsresume -n "__fish_wsresume_using_subcommand get" -l retries -d 'Retries after the first attempt without progress; 0 never retries [default: 10] [env: WSRESUME_RETRIES]. Until a first connection succeeds, a host name that does not resolve is not retried, and a refused connection only for about 3.5 s' -r
complete -c wsresume -n "__fish_wsresume_using_subcommand get" -l parallel -d 'Trees: small files go over N session connections, and up to N large files move at once, 1 to 64 [default: 2] [env: WSRESUME_PARALLEL]' -r
complete -c wsresume -n "__fish_wsresume_using_subcommand get" -l retry-max-delay -d 'Longest wait between reconnects: seconds, or 500ms, 30s, 2m [default: 30s] [env: WSRESUME_RETRY_MAX_DELAY]' -r
complete -c wsresume -n "__fish_wsresume_using_subcommand get" -l timeout -d 'A connection silent for this long is dead and reconnected: seconds, or 30s, 2m [default: 30s] [env: WSRESUME_TIMEOUT]' -r
complete -c wsresume -n "__fish_wsresume_using_subcommand get" -l chunk-size -d 'Unit of verification and resume (K, M, G suffixes: 1M = 1048576) [default: 1M] [env: WSRESUME_CHUNK_SIZE]' -r
complete -c wsresume -n "__fish_wsresume_using_subcommand get" -l limit-rate -d 'Largest average speed per transfer, in bytes per second (K, M, G suffixes, like curl) [default: unlimited] [env: WSRESUME_LIMIT_RATE]' -r
complete -c wsresume -n "__fish_wsresume_using_subcommand get" -l proxy -d 'Reach the server through this proxy: http://[USER:PASSWORD@]HOST[:PORT] (CONNECT), socks5://... or socks5h://... (the proxy resolves the server\'s name); port 1080 when none is given; an empty URL means no proxy [default: https_proxy/HTTPS_PROXY for wss://, http_proxy/HTTP_PROXY for ws://, then all_proxy/ALL_PROXY]' -r
complete -c wsresume -n "__fish_wsresume_using_subcommand get" -l noproxy -d 'Hosts reached without the proxy: comma-separated names (their subdomains too), IP addresses, CIDR ranges, or * for all [env: no_proxy, NO_PROXY]' -r
complete -c wsresume -n "__fish_wsresume_using_subcommand get" -l resolve -d 'Connect to ADDR (or ADDR,ADDR...) instead of resolving HOST when the URL\'s host is HOST and its port PORT; TLS still verifies HOST; repeatable [env: WSRESUME_RESOLVE, entries separated by spaces]' -r
complete -c wsresume -n "__fish_wsresume_using_subcommand get" -l connect-timeout -d 'Longest time to resolve the name, open the TCP connection and pass the proxy: seconds, or 500ms, 10s; 0 for no limit of its own (--timeout still bounds the whole connection) [default: 0] [env: WSRESUME_CONNECT_TIMEOUT]' -r
complete -c wsresume -n "__fish_wsresume_using_subcommand get" -l compress -d 'Compress data frames with zstd when the server agrees: auto (only when it makes the transfer faster, judged frame by frame), on, off [default: auto] [env: WSRESUME_COMPRESS]' -r
complete -c wsresume -n "__fish_wsresume_using_subcommand get" -l progress -d 'How to show progress on stderr [default: bar on a terminal, plain otherwise, none with -q] [env: WSRESUME_PROGRESS]' -r -f -a "none\t'No progress output'
bar\t'Progress bars (drawn only on a terminal)'
plain\t'A short line every few seconds or every 10 %, for logs'"
complete -c wsresume -n "__fish_wsresume_using_subcommand get" -s r -l recursive -d 'Download the directory URL as DEST/NAME/ (NAME: its last segment), skipping files already there identical (size and SHA-256); a URL naming a file is downloaded as without -r'
complete -c wsresume -n "__fish_wsresume_using_subcommand get" -l create-dirs -d 'Create DEST\'s missing directories (else a missing one is an error, reported before anything is downloaded)'
complete -c wsresume -n "__fish_wsresume_using_subcommand get" -l wait -d 'When another wsresume is downloading to the same file, wait for it to finish instead of failing (exit code 1)'
complete -c wsresume -n "__fish_wsresume_using_subcommand get" -s p -l preserve -d 'Also give the downloaded files the server\'s permission bits, as scp -p does; modification times are always kept'
complete -c wsresume -n "__fish_wsresume_using_subcommand get" -s k -l insecure -d 'Do not verify the server\'s certificate for wss:// (the connection is still encrypted, but anyone in between can read it). Warns on every use; only a flag, never read from the environment or config file'
complete -c wsresume -n "__fish_wsresume_using_subcommand get" -l retry-connrefused -d 'Retry refused connections with the normal backoff even before a first connection succeeded, for a server that is still starting (like curl\'s) [env: WSRESUME_RETRY_CONNREFUSED]'
complete -c wsresume -n "__fish_wsresume_using_subcommand get" -s q -l quiet -d 'No progress, no chatter (errors still go to stderr)'
complete -c wsresume -n "__fish_wsresume_using_subcommand get" -l json -d 'Print results as JSON lines on stdout (one object per file)'
complete -c wsresume -n "__fish_wsresume_using_subcommand get" -s v -l verbose -d 'Diagnostic logs on stderr: -v for connections, retries and timings, -vv for protocol details (WSRESUME_LOG overrides)'
complete -c wsresume -n "__fish_wsresume_using_subcommand get" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c wsresume -n "__fish_wsresume_using_subcommand get" -s V -l version -d 'Print version'
complete -c wsresume -n "__fish_wsresume_using_subcommand ls" -l token -d 'Bearer token for the server [env: WSRESUME_TOKEN]' -r
complete -c wsresume -n "__fish_wsresume_using_subcommand ls" -l cacert -d 'Also trust the CA certificates in this PEM file for wss:// (the system\'s roots are always trusted). A self-signed server certificate works too if it is not a CA certificate (CA:FALSE)' -r -F
complete -c wsresume -n "__fish_wsresume_using_subcommand ls" -l retries -d 'Retries after the first attempt without progress; 0 never retries [default: 10] [env: WSRESUME_RETRIES]. Until a first connection succeeds, a host name that does not resolve is not retried, and a refused connection only for about 3.5 s' -r
complete -c wsresume -n "__fish_wsresume_using_subcommand ls" -l parallel -d 'Trees: small files go over N session connections, and up to N large files move at once, 1 to 64 [default: 2] [env: WSRESUME_PARALLEL]' -r
complete -c wsresume -n "__fish_wsresume_using_subcommand ls" -l retry-max-delay -d 'Longest wait between reconnects: seconds, or 500ms, 30s, 2m [default: 30s] [env: WSRESUME_RETRY_MAX_DELAY]' -r
complete -c wsresume -n "__fish_wsresume_using_subcommand ls" -l timeout -d 'A connection silent for this long is dead and reconnected: seconds, or 30s, 2m [default: 30s] [env: WSRESUME_TIMEOUT]' -r
complete -c wsresume -n "__fish_wsresume_using_subcommand ls" -l chunk-size -d 'Unit of verification and resume (K, M, G suffixes: 1M = 1048576) [default: 1M] [env: WSRESUME_CHUNK_SIZE]' -r
complete -c wsresume -n "__fish_wsresume_using_subcommand ls" -l limit-rate -d 'Largest average speed per transfer, in bytes per second (K, M, G suffixes, like curl) [default: unlimited] [env: WSRESUME_LIMIT_RATE]' -r
complete -c wsresume -n "__fish_wsresume_using_subcommand ls" -l proxy -d 'Reach the server through this proxy: http://[USER:PASSWORD@]HOST[:PORT] (CONNECT), socks5://... or socks5h://... (the proxy resolves the server\'s name); port 1080 when none is given; an empty URL means no proxy [default: https_proxy/HTTPS_PROXY for wss://, http_proxy/HTTP_PROXY for ws://, then all_proxy/ALL_PROXY]' -r
complete -c wsresume -n "__fish_wsresume_using_subcommand ls" -l noproxy -d 'Hosts reached without the proxy: comma-separated names (their subdomains too), IP addresses, CIDR ranges, or * for all [env: no_proxy, NO_PROXY]' -r
complete -c wsresume -n "__fish_wsresume_using_subcommand ls" -l resolve -d 'Connect to ADDR (or ADDR,ADDR...) instead of resolving HOST when the URL\'s host is HOST and its port PORT; TLS still verifies HOST; repeatable [env: WSRESUME_RESOLVE, entries separated by spaces]' -r
complete -c wsresume -n "__fish_wsresume_using_subcommand ls" -l connect-timeout -d 'Longest time to resolve the name, open the TCP connection and pass the proxy: seconds, or 500ms, 10s; 0 for no limit of its own (--timeout still bounds the whole connection) [default: 0] [env: WSRESUME_CONNECT_TIMEOUT]' -r
complete -c wsresume -n "__fish_wsresume_using_subcommand ls" -l compress -d 'Compress data frames with zstd when the server agrees: auto (only when it makes the transfer faster, judged frame by frame), on, off [default: auto] [env: WSRESUME_COMPRESS]' -r
complete -c wsresume -n "__fish_wsresume_using_subcommand ls" -l progress -d 'How to show progress on stderr [default: bar on a terminal, plain otherwise, none with -q] [env: WSRESUME_PROGRESS]' -r -f -a "none\t'No progress output'
bar\t'Progress bars (drawn only on a terminal)'
plain\t'A short line every few seconds or every 10 %, for logs'"
complete -c wsresume -n "__fish_wsresume_using_subcommand ls" -s r -l recursive -d 'List files in subdirectories too (paths relative to URL)'
complete -c wsresume -n "__fish_wsresume_using_subcommand ls" -l sha256 -d 'Also show each file\'s SHA-256 (the server reads every file)'
complete -c wsresume -n "__fish_wsresume_using_subcommand ls" -s k -l insecure -d 'Do not verify the server\'s certificate for wss:// (the connection is still encrypted, but anyone in between can read it). Warns on every use; only a flag, never read from the environment or config file'
complete -c wsresume -n "__fish_wsresume_using_subcommand ls" -l retry-connrefused -d 'Retry refused connections with the normal backoff even before a first connection succeeded, for a server that is still starting (like curl\'s) [env: WSRESUME_RETRY_CONNREFUSED]'
complete -c wsresume -n "__fish_wsresume_using_subcommand ls" -s q -l quiet -d 'No progress, no chatter (errors still go to stderr)'
complete -c wsresume -n "__fish_wsresume_using_subcommand ls" -l json -d 'Print results as JSON lines on stdout (one object per file)'
complete -c wsresume -n "__fish_wsresume_using_subcommand ls" -s v -l verbose -d 'Diagnostic logs on stderr: -v for connections, retries and timings, -vv for protocol details (WSRESUME_LOG overrides)'
complete -c wsresume -n "__fish_wsresume_using_subcommand ls" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c wsresume -n "__fish_wsresume_using_subcommand ls" -s V -l version -d 'Print version'
complete -c wsresume -n "__fish_wsresume_using_subcommand config" -l token -d 'Bearer token for the server [env: WSRESUME_TOKEN]' -r
complete -c wsresume -n "__fish_wsresume_using_subcommand config" -l cacert -d 'Also trust the CA certificates in this PEM file for wss:// (the system\'s roots are always trusted). A self-signed server certificate works too if it is not a CA certificate (CA:FALSE)' -r -F
complete -c wsresume -n "__fish_wsresume_using_subcommand config" -l retries -d 'Retries after the first attempt without progress; 0 never retries [default: 10] [env: WSRESUME_RETRIES]. Until a first connection succeeds, a host name that does not resolve is not retried, and a refused connection only for about 3.5 s' -r
complete -c wsresume -n "__fish_wsresume_using_subcommand config" -l parallel -d 'Trees: small files go over N session connections, and up to N large files move at once, 1 to 64 [default: 2] [env: WSRESUME_PARALLEL]' -r
complete -c wsresume -n "__fish_wsresume_using_subcommand config" -l retry-max-delay -d 'Longest wait between reconnects: seconds, or 500ms, 30s, 2m [default: 30s] [env: WSRESUME_RETRY_MAX_DELAY]' -r
complete -c wsresume -n "__fish_wsresume_using_subcommand config" -l timeout -d 'A connection silent for this long is dead and reconnected: seconds, or 30s, 2m [default: 30s] [env: WSRESUME_TIMEOUT]' -r
complete -c wsresume -n "__fish_wsresume_using_subcommand config" -l chunk-size -d 'Unit of verification and resume (K, M, G suffixes: 1M = 1048576) [default: 1M] [env: WSRESUME_CHUNK_SIZE]' -r
complete -c wsresume -n "__fish_wsresume_using_subcommand config" -l limit-rate -d 'Largest average speed per transfer, in bytes per second (K, M, G suffixes, like curl) [default: unlimited] [env: WSRESUME_LIMIT_RATE]' -r
complete -c wsresume -n "__fish_wsresume_using_subcommand config" -l proxy -d 'Reach the server through this proxy: http://[USER:PASSWORD@]HOST[:PORT] (CONNECT), socks5://... or socks5h://... (the proxy resolves the server\'s name); port 1080 when none is given; an empty URL means no proxy [default: https_proxy/HTTPS_PROXY for wss://, http_proxy/HTTP_PROXY for ws://, then all_proxy/ALL_PROXY]' -r
complete -c wsresume -n "__fish_wsresume_using_subcommand config" -l noproxy -d 'Hosts reached without the proxy: comma-separated names (their subdomains too), IP addresses, CIDR ranges, or * for all [env: no_proxy, NO_PROXY]' -r
complete -c wsresume -n "__fish_wsresume_using_subcommand config" -l resolve -d 'Connect to ADDR (or ADDR,ADDR...) instead of resolving HOST when the URL\'s host is HOST and its port PORT; TLS still verifies HOST; repeatable [env: WSRESUME_RESOLVE, entries separated by spaces]' -r
complete -c wsresume -n "__fish_wsresume_using_subcommand config" -l connect-timeout -d 'Longest time to resolve the name, open the TCP connection and pass the proxy: seconds, or 500ms, 10s; 0 for no limit of its own (--timeout still bounds the whole connection) [default: 0] [env: WSRESUME_CONNECT_TIMEOUT]' -r
complete -c wsresume -n "__fish_wsresume_using_subcommand config" -l compress -d 'Compress data frames with zstd when the server agrees: auto (only when it makes the transfer faster, judged frame by frame), on, off [default: auto] [env: WSRESUME_COMPRESS]' -r
complete -c wsresume -n "__fish_wsresume_using_subcommand config" -l progress -d 'How to show progress on stderr [default: bar on a terminal, plain otherwise, none with -q] [env: WSRESUME_PROGRESS]' -r -f -a "none\t'No progress output'
bar\t'Progress bars (drawn only on a terminal)'
plain\t'A short line every few seconds or every 10 %, for logs'"
complete -c wsresume -n "__fish_wsresume_using_subcommand config" -s k -l insecure -d 'Do not verify the server\'s certificate for wss:// (the connection is still encrypted, but anyone in between can read it). Warns on every use; only a flag, never read from the environment or config file'
complete -c wsresume -n "__fish_wsresume_using_subcommand config" -l retry-connrefused -d 'Retry refused connections with the normal backoff even before a first connection succeeded, for a server that is still starting (like curl\'s) [env: WSRESUME_RETRY_CONNREFUSED]'
complete -c wsresume -n "__fish_wsresume_using_subcommand config" -s q -l quiet -d 'No progress, no chatter (errors still go to stderr)'
complete -c wsresume -n "__fish_wsresume_using_subcommand config" -l json -d 'Print results as JSON lines on stdout (one object per file)'
complete -c wsresume -n "__fish_wsresume_using_subcommand config" -s v -l verbose -d 'Diagnostic logs on stderr: -v for connections, retries and timings, -vv for protocol details (WSRESUME_LOG overrides)'
complete -c wsresume -n "__fish_wsresume_using_subcommand config" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c wsresume -n "__fish_wsresume_using_subcommand config" -s V -l version -d 'Print version'
complete -c wsresume -n "__fish_wsresume_using_subcommand token" -l name -d 'The token\'s name in the tokens file and in the server\'s logs' -r
complete -c wsresume -n "__fish_wsresume_using_subcommand token" -l rights -d 'What it may do: a comma list of read, list, write' -r
complete -c wsresume -n "__fish_wsresume_using_subcommand token" -l paths -d 'Where: path prefixes such as / or /ci/ (repeatable, or a comma list)' -r
complete -c wsresume -n "__fish_wsresume_using_subcommand token" -s v -l verbose -d 'Diagnostic logs on stderr: -v for connections, retries and timings, -vv for protocol details (WSRESUME_LOG overrides)'
complete -c wsresume -n "__fish_wsresume_using_subcommand token" -s h -l help -d 'Print help'
complete -c wsresume -n "__fish_wsresume_using_subcommand token" -s V -l version -d 'Print version'
complete -c wsresume -n "__fish_wsresume_using_subcommand completions" -s v -l verbose -d 'Diagnostic logs on stderr: -v for connections, retries and timings, -vv for protocol details (WSRESUME_LOG overrides)'
complete -c wsresume -n "__fish_wsresume_using_subcommand completions" -s h -l help -d 'Print help'
complete -c wsresume -n "__fish_wsresume_using_subcommand completions" -s V -l version -d 'Print version'
complete -c wsresume -n "__fish_wsresume_using_subcommand man" -s v -l verbose -d 'Diagnostic logs on stderr: -v for connections, retries and timings, -vv for protocol details (WSRESUME_LOG overrides)'
complete -c wsresume -n "__fish_wsresume_using_subcommand man" -s h -l help -d 'Print help'
complete -c wsresume -n "__fish_wsresume_using_subcommand man" -s V -l version -d 'Print version'
complete -c wsresume -n "__fish_wsresume_using_subcommand help; and not __fish_seen_subcommand_from serve send get ls config token completions man help" -f -a "serve" -d 'Serve a directory: downloads from it and uploads into it'
complete -c wsresume -n "__fish_wsresume_using_subcommand help; and not __fish_seen_subcommand_from serve send get ls config token completions man help" -f -a "send" -d 'Upload files; a URL ending in \'/\' (or several files) names a directory'
complete -c wsresume -n "__fish_wsresume_using_subcommand help; and not __fish_seen_subcommand_from serve send get ls config token completions man help" -f -a "get" -d 'Download a file (with -r: a directory)'
complete -c wsresume -n "__fish_wsresume_using_subcommand help; and not __fish_seen_subcommand_from serve send get ls config token completions man help" -f -a "ls" -d 'List a remote directory: name, size, modified time'
complete -c wsresume -n "__fish_wsresume_using_subcommand help; and not __fish_seen_subcommand_from serve send get ls config token completions man help" -f -a "config" -d 'Show the effective client settings and where each comes from'
complete -c wsresume -n "__fish_wsresume_using_subcommand help; and not __fish_seen_subcommand_from serve send get ls config token completions man help" -f -a "token" -d 'Print a new random token, then the [[token]] table to paste into the file of `serve --tokens`'
complete -c wsresume -n "__fish_wsresume_using_subcommand help; and not __fish_seen_subcommand_from serve send get ls config token completions man help" -f -a "completions" -d 'Print a shell completion script'
complete -c wsresume -n "__fish_wsresume_using_subcommand help; and not __fish_seen_subcommand_from serve send get ls config token completions man help" -f -a "man" -d 'Print a man page (roff): wsresume(1), or wsresume-COMMAND(1)'
complete -c wsresume -n "__fish_wsresume_using_subcommand help; and not __fish_seen_subcommand_from serve send get ls config token completions man help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
