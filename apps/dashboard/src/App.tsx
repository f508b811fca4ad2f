import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { BrowserRouter, Navigate, Route, Routes, useLocation } from 'react-router';
import { lazy, Suspense, type ReactNode } from 'react';
import { ApiError } from './api/apiTransport.ts';
import { SessionProvider, useSession } from './auth/SessionContext.tsx';
import { EmptyState } from './components/EmptyState.tsx';
import { Layout } from './components/Layout.tsx';
import { LiveEventsProvider } from './live/LiveEventsProvider.tsx';
import { JobsPage } from './pages/JobsPage.tsx';
import { SignInPage } from './pages/SignInPage.tsx';

// The pages with charts load the chart library when first opened; the job list starts without it.
const JobDetailPage = lazy(() =>
  import('./pages/JobDetailPage.tsx').then((module) => ({ default: module.JobDetailPage })),
);
const OperationsPage = lazy(() =>
  import('./pages/OperationsPage.tsx').then((module) => ({ default: module.OperationsPage })),
);

function Loading() {
  return <div className="skeleton" aria-busy="true" aria-label="Loading" />;
}

/** Client errors are answers, not glitches: retrying a 4xx only delays the message. */
export function createQueryClient(): QueryClient {
  return new QueryClient({
    defaultOptions: {
      queries: {
        retry: (failures, error) =>
          !(error instanceof ApiError && error.status >= 400 && error.status < 500) && failures < 2,
        refetchOnWindowFocus: true,
        staleTime: 2000,
      },
      mutations: { retry: false },
    },
  });
}

function RequireSession({ children }: { children: ReactNode }) {
  const { session } = useSession();
  const location = useLocation();
  if (!session) return <Navigate to="/sign-in" replace state={{ from: location.pathname + location.search }} />;
  return children;
}

function NotFound() {
  return (
    <div className="page">
      <EmptyState title="No such page">
        <a href="/dashboard/jobs">Back to your jobs</a>
      </EmptyState>
    </div>
  );
}

export function App({ queryClient = createQueryClient() }: { queryClient?: QueryClient }) {
  return (
    <QueryClientProvider client={queryClient}>
      <SessionProvider>
        <LiveEventsProvider>
          <BrowserRouter basename="/dashboard">
            <Routes>
              <Route path="/sign-in" element={<SignInPage />} />
              <Route
                element={
                  <RequireSession>
                    <Layout />
                  </RequireSession>
                }
              >
                <Route index element={<Navigate to="/jobs" replace />} />
                <Route path="/jobs" element={<JobsPage />} />
                <Route
                  path="/jobs/:id"
                  element={
                    <Suspense fallback={<Loading />}>
                      <JobDetailPage />
                    </Suspense>
                  }
                />
                <Route
                  path="/operations"
                  element={
                    <Suspense fallback={<Loading />}>
                      <OperationsPage />
                    </Suspense>
                  }
                />
                <Route path="*" element={<NotFound />} />
              </Route>
            </Routes>
          </BrowserRouter>
        </LiveEventsProvider>
      </SessionProvider>
    </QueryClientProvider>
  );
}
