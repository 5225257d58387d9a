/* Exec storm generator for bench/exec_storm.py.
 *
 *   spawner LOOPS SECONDS RATE BINARY TAG LOG
 *
 * Runs LOOPS processes that each fork + execve(BINARY, {BINARY, "TAG-<loop>-<n>"}) + wait, as
 * fast as possible (RATE 0) or at RATE execs per second per loop, for SECONDS. Every child's
 * pid, tag and fork time (CLOCK_MONOTONIC ns) go to LOG.<loop> ("pid tag ns" lines; pids are
 * reused, and the time orders a pid's children across loops), the total to stdout:
 * "execs N seconds S".
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long run_loop(int loop, double seconds, double rate, const char* binary, const char* tag,
                     FILE* log) {
  char arg[128];
  long n = 0;
  double start = now(), next = start;
  while (now() - start < seconds) {
    if (rate > 0) {
      double wait = next - now();
      if (wait > 0) usleep((useconds_t)(wait * 1e6));
      next += 1.0 / rate;
    }
    snprintf(arg, sizeof arg, "%s-%d-%ld", tag, loop, n);
    struct timespec forked;
    clock_gettime(CLOCK_MONOTONIC, &forked);
    pid_t pid = fork();
    if (pid == 0) {
      char* argv[] = {(char*)binary, arg, NULL};
      char* envp[] = {NULL};
      execve(binary, argv, envp);
      _exit(127);
    }
    if (pid < 0) continue;
    fprintf(log, "%d %s %lld\n", pid, arg,
            (long long)forked.tv_sec * 1000000000LL + (long long)forked.tv_nsec);
    int st;
    waitpid(pid, &st, 0);
    ++n;
  }
  return n;
}

int main(int argc, char** argv) {
  if (argc != 7) {
    fprintf(stderr, "usage: spawner LOOPS SECONDS RATE BINARY TAG LOG\n");
    return 2;
  }
  int loops = atoi(argv[1]);
  double seconds = atof(argv[2]), rate = atof(argv[3]);
  const char *binary = argv[4], *tag = argv[5], *log_path = argv[6];
  int fds[2];
  if (pipe(fds) != 0) return 1;
  double start = now();
  for (int l = 0; l < loops; ++l) {
    if (fork() == 0) {
      char path[4096];
      snprintf(path, sizeof path, "%s.%d", log_path, l);
      FILE* log = fopen(path, "w");
      if (!log) _exit(1);
      long n = run_loop(l, seconds, rate, binary, tag, log);
      fclose(log);
      if (write(fds[1], &n, sizeof n) != sizeof n) _exit(1);
      _exit(0);
    }
  }
  long total = 0;
  for (int l = 0; l < loops; ++l) {
    long n = 0;
    if (read(fds[0], &n, sizeof n) == sizeof n) total += n;
  }
  while (wait(NULL) > 0) {
  }
  printf("execs %ld seconds %.3f\n", total, now() - start);
  return 0;
}
