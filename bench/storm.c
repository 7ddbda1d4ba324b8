// getppid() storm: N raw syscalls per thread, prints ns per syscall. Used by `bun run bench` and the tests.
//   storm N [THREADS] [--hold]
// THREADS (default 1) threads run the storm at once; with --hold they stay alive after it, printing
// first, until stdin reaches end of file (so a test can read a live process's counts).
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/syscall.h>

static long n = 5000000;
static pthread_barrier_t stormed, done;
static int hold;

static void *storm(void *arg)
{
	(void)arg;
	for (long i = 0; i < n; i++)
		syscall(SYS_getppid);
	if (hold) {
		pthread_barrier_wait(&stormed);
		pthread_barrier_wait(&done); /* stay alive until main has seen stdin close */
	}
	return NULL;
}

int main(int argc, char **argv)
{
	int threads = argc > 2 ? atoi(argv[2]) : 1;
	struct timespec a, b;
	pthread_t *t;
	char c;

	n = argc > 1 ? atol(argv[1]) : n;
	hold = argc > 3 && strcmp(argv[3], "--hold") == 0;
	if (threads < 1 || n < 0)
		return 2;
	t = calloc(threads, sizeof(*t));
	pthread_barrier_init(&stormed, NULL, threads);
	pthread_barrier_init(&done, NULL, threads);
	clock_gettime(CLOCK_MONOTONIC, &a);
	if (threads == 1 && !hold) {
		storm(NULL); /* the benchmark's case: no thread, no barrier */
	} else {
		for (int i = 1; i < threads; i++)
			pthread_create(&t[i], NULL, storm, NULL);
		for (long i = 0; i < n; i++) /* the main thread is the first storm thread */
			syscall(SYS_getppid);
	}
	clock_gettime(CLOCK_MONOTONIC, &b);
	if (hold)
		pthread_barrier_wait(&stormed); /* every thread has made its syscalls */
	else
		for (int i = 1; i < threads; i++)
			pthread_join(t[i], NULL);
	printf("%.2f\n", ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / n);
	fflush(stdout);
	if (hold) {
		while (read(0, &c, 1) > 0)
			;
		pthread_barrier_wait(&done);
		for (int i = 1; i < threads; i++)
			pthread_join(t[i], NULL);
	}
	return 0;
}
