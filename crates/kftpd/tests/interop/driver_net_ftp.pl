# The Perl Net::FTP client side of the interop Scenario (see common.rs): run as
#   perl driver_net_ftp.pl plain|explicit|implicit PORT USER PASS
# in the scenario's working directory. FTPS goes through IO::Socket::SSL. Exits 0 after
# printing DONE, non-zero on the first refused reply (printed on stderr).
use strict;
use warnings;
use Net::FTP;

my ($mode, $port, $user, $pass) = @ARGV;
$| = 1;
# The server's certificate is self-signed: no verification.
my %tls = (SSL_verify_mode => 0);
my $ftp = Net::FTP->new(
    "127.0.0.1",
    Port    => $port,
    Timeout => 30,
    Passive => 1,
    ($mode eq 'implicit' ? (SSL => 1) : ()),
    ($mode ne 'plain'    ? %tls       : ()),
) or die "connect: $@\n";

sub fail { my ($what) = @_; die "$what failed: " . $ftp->code . " " . $ftp->message . "\n"; }

if ($mode eq 'explicit') {
    # AUTH TLS, then PBSZ 0 + PROT P once logged in.
    $ftp->starttls() or fail("AUTH TLS");
}
$ftp->login($user, $pass) or fail("login");
if ($mode eq 'explicit') {
    $ftp->prot('P') or fail("PROT P");
}
# Implicit (SSL => 1): Net::FTP sends no PROT and protects the data connections, taking
# the implicit session to start at PROT P.
$ftp->binary or fail("TYPE I");

# "ls -l" lines: the size is the fifth field, the name follows the date.
sub entries {
    my ($dir) = @_;
    my @lines = $ftp->dir($dir) or fail("LIST $dir");
    my @out;
    for my $l (@lines) {
        my @f = split ' ', $l, 9;
        next unless @f == 9;
        push @out, [$f[8], $f[4], substr($l, 0, 1) eq 'd' ? 'd' : 'f'];
    }
    return @out;
}

print "LIST $_->[0] $_->[1] $_->[2]\n" for entries("/");

$ftp->get("big.bin", "got.bin") or fail("RETR big.bin");
$ftp->put("up.bin", "up.bin") or fail("STOR up.bin");

# Resume the download from the local size: REST, and appended to the local file.
$ftp->get("big.bin", "partial.bin", -s "partial.bin") or fail("REST + RETR big.bin");

# Resume the interrupted upload from the server's SIZE, with APPE of the rest.
my $size = $ftp->size("resume.bin");
defined $size or fail("SIZE resume.bin");
open(my $in, '<:raw', "resume.bin") or die "resume.bin: $!\n";
seek($in, $size, 0) or die "seek: $!\n";
$ftp->append($in, "resume.bin") or fail("APPE resume.bin");
close $in;

sub upload {
    my ($local, $remote) = @_;
    $ftp->mkdir($remote) or fail("MKD $remote");
    opendir(my $dh, $local) or die "$local: $!\n";
    for my $name (sort grep { !/^\.\.?$/ } readdir $dh) {
        if (-d "$local/$name") {
            upload("$local/$name", "$remote/$name");
        } else {
            $ftp->put("$local/$name", "$remote/$name") or fail("STOR $remote/$name");
        }
    }
}

sub download {
    my ($remote, $local) = @_;
    mkdir $local or die "mkdir $local: $!\n";
    for my $e (entries($remote)) {
        my ($name, undef, $kind) = @$e;
        if ($kind eq 'd') {
            download("$remote/$name", "$local/$name");
        } else {
            $ftp->get("$remote/$name", "$local/$name") or fail("RETR $remote/$name");
        }
    }
}

upload("tree", "/tree-up");
download("/tree", "tree-down");

print "DONE\n";
$ftp->quit or fail("QUIT");
